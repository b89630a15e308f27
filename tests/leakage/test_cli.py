"""``medtune audit leakage`` end to end on a tiny variant with recorded lineage, and its bad inputs."""

from __future__ import annotations

import json

import pytest

from harness.store import Store
from harness.store.variants import register_variant
from suites import load_suite
from tests.harness.clihelp import run_cli
from tuning.canaries import make_canaries


def _lineage(path, role="train", **extra):
    return {"data_files": [{"path": str(path), "sha256": None, "role": role, "format": "text"}], **extra}


@pytest.fixture()
def variant_db(tmp_path, db, data_root, tiny_causal):
    """base (no data) -> tuned (a text file with two MedQA items verbatim, 2 held-out lines, canaries)."""
    items = load_suite("medqa_usmle").docs(data_root)[:2]
    lines = [f"{d['question']} {' '.join(d['choices'])}".replace("\n", " ") for d in items]
    lines += [f"Clinical note {i}: the patient recovered well after treatment number {i}." for i in range(8)]
    train = tmp_path / "train.txt"
    train.write_text("\n".join(lines) + "\n")
    store = Store(db)
    register_variant(store, "tiny-base", str(tiny_causal), "causal")
    register_variant(store, "tiny-tuned", str(tiny_causal), "causal", method="full", parent="tiny-base",
                     lineage=_lineage(train, eval_ids=["train.txt:9", "train.txt:10"],
                                      canaries=make_canaries(2, seed=1, repetitions=3)))
    return db, items


def test_audit_end_to_end(capsys, variant_db, data_root):
    db, items = variant_db
    code, out, err = run_cli(capsys, "audit", "leakage", "--variant", "tiny-tuned", "--suite", "medqa_usmle",
                             "--no-splits", "--candidates", "16", "--mia-limit", "8", "--max-tokens", "16",
                             "--device", "cpu", "--db", str(db), "--data-root", str(data_root))
    assert code == 0, err
    assert "medqa_usmle" in out and "membership inference" in out and "canaries" in out
    store = Store(db)
    flagged = store.query("SELECT doc_id FROM leakage_items WHERE contaminated ORDER BY doc_id")["doc_id"].tolist()
    assert {items[0]["id"], items[1]["id"]} <= set(flagged)
    mia = store.query("SELECT method, auroc, n_members, n_nonmembers FROM membership_inference")
    assert set(mia["method"]) == {"loss", "min_k", "min_k_plus_plus"}
    assert (mia["n_members"] == 8).all() and (mia["n_nonmembers"] == 2).all()
    can = store.query("SELECT * FROM canary_exposure")
    assert len(can) == 2 and (can["candidates"] == 16).all() and (can["repetitions"] == 3).all()
    summary = json.loads(store.query("SELECT summary FROM leakage_audits")["summary"][0])
    assert summary["suites"]["medqa_usmle"]["contaminated"] >= 2


def test_variant_without_data(capsys, variant_db, data_root):
    db, _ = variant_db
    code, _, err = run_cli(capsys, "audit", "leakage", "--variant", "tiny-base", "--no-model", "--db", str(db),
                           "--data-root", str(data_root))
    assert code == 2 and "no training data is recorded" in err and "tiny-base" in err


def test_unreadable_training_file(capsys, variant_db, data_root, tmp_path, tiny_causal):
    db, _ = variant_db
    register_variant(Store(db), "tiny-lost", str(tiny_causal), "causal", method="full", parent="tiny-tuned",
                     lineage=_lineage(tmp_path / "gone.txt"))
    code, _, err = run_cli(capsys, "audit", "leakage", "--variant", "tiny-lost", "--no-model", "--db", str(db),
                           "--data-root", str(data_root))
    assert code == 2 and "gone.txt" in err and "cannot be read" in err and "tiny-lost" in err
    assert Store(db).query("SELECT count(*) AS n FROM leakage_audits")["n"][0] == 0  # nothing half-written


def test_unknown_variant(capsys, db, data_root):
    code, _, err = run_cli(capsys, "audit", "leakage", "--variant", "nope", "--db", str(db), "--data-root", str(data_root))
    assert code == 2 and "nope" in err


def test_model_without_record_audited_on_given_texts(capsys, db, data_root, tmp_path, tiny_causal):
    """A model with no row in the DB (an HF directory, a built-in base) is audited on --members/--nonmembers:
    the reference figure for a tuned variant's AUROC on the same texts."""
    members, nonmembers = tmp_path / "m.jsonl", tmp_path / "n.jsonl"
    members.write_text("".join(json.dumps({"text": f"Member record {i}: aspirin 81 mg daily."}) + "\n" for i in range(4)))
    nonmembers.write_text("".join(json.dumps({"text": f"Held-out record {i}: metformin twice a day."}) + "\n"
                                  for i in range(3)))
    code, out, err = run_cli(capsys, "audit", "leakage", "--variant", str(tiny_causal), "--members", str(members),
                             "--nonmembers", str(nonmembers), "--suite", "medqa_usmle", "--no-splits",
                             "--max-tokens", "16", "--device", "cpu", "--db", str(db), "--data-root", str(data_root))
    assert code == 0, err
    mia = Store(db).query("SELECT n_members, n_nonmembers FROM membership_inference")
    assert len(mia) == 3 and (mia["n_members"] == 4).all() and (mia["n_nonmembers"] == 3).all()
    code, _, err = run_cli(capsys, "audit", "leakage", "--variant", str(tmp_path / "no-such-model"), "--members",
                           str(members), "--nonmembers", str(nonmembers), "--db", str(db), "--data-root", str(data_root))
    assert code == 2 and "no-such-model" in err
