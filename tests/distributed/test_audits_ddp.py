"""``medtune audit leakage --processes 2`` (torch.distributed.run, gloo on CPU) on a tiny Llama: rank 0
scans the text, every rank scores its slice of the membership texts and canaries, rank 0 alone writes and
prints; AUROCs, CIs and canary exposures equal a one-process run, each table written once."""

from __future__ import annotations

import pytest

from harness.store import Store
from harness.store.variants import register_variant
from tests.distributed.conftest import medtune
from tuning.canaries import make_canaries

MIA = "SELECT method, auroc, ci_low, ci_high, n_members, n_nonmembers FROM membership_inference ORDER BY method"
CANARY = "SELECT canary_id, rank, candidates, exposure, reproduced, generation FROM canary_exposure ORDER BY canary_id"


def tuned(db, tiny_causal, train) -> Store:
    store = Store(db)
    register_variant(store, "tiny-base", str(tiny_causal), "causal")
    register_variant(store, "tiny-tuned", str(tiny_causal), "causal", method="full", parent="tiny-base",
                     lineage={"data_files": [{"path": str(train), "sha256": None, "role": "train", "format": "text"}],
                              "eval_ids": ["train.txt:8", "train.txt:9", "train.txt:10"],
                              "canaries": make_canaries(3, seed=1, repetitions=2)})
    return store


def rows(store: Store, sql: str) -> list[tuple]:
    return [tuple(r) for r in store.query(sql).itertuples(index=False)]


def test_leakage_two_processes_like_one_and_write_once(tmp_path, tiny_causal, data_root):
    train = tmp_path / "train.txt"
    train.write_text("".join(f"Clinical note {i}: the patient recovered after treatment number {i}.\n"
                             for i in range(10)))
    one, two = tuned(tmp_path / "one.duckdb", tiny_causal, train), tuned(tmp_path / "two.duckdb", tiny_causal, train)
    args = ["audit", "leakage", "--variant", "tiny-tuned", "--suite", "medqa_usmle", "--no-splits",
            "--candidates", "12", "--max-tokens", "16", "--device", "cpu", "--data-root", str(data_root)]
    a = medtune([*args, "--db", str(one.path)], MEDTUNE_CACHE=str(tmp_path / "cache"))
    assert a.returncode == 0, a.stderr[-3000:]
    b = medtune([*args, "--db", str(two.path), "--processes", "2"], MEDTUNE_CACHE=str(tmp_path / "cache"))
    assert b.returncode == 0, b.stderr[-3000:]
    assert b.stdout.count("membership inference") == a.stdout.count("membership inference") == 1  # rank 0 prints

    ref, got = rows(one, MIA), rows(two, MIA)
    assert len(got) == len(ref) == 3 and got[0][4:] == ref[0][4:] == (7, 3)
    for x, y in zip(ref, got):
        assert x[0] == y[0] and y[1:4] == pytest.approx(x[1:4], rel=1e-5, abs=1e-6, nan_ok=True), x[0]
    ref_c, got_c = rows(one, CANARY), rows(two, CANARY)
    assert len(got_c) == len(ref_c) == 3  # split 2 + 1 over the ranks, gathered in order, written once
    for x, y in zip(ref_c, got_c):
        assert x[:3] == y[:3] and x[4:] == y[4:] and y[3] == pytest.approx(x[3])
    assert len(two.query("SELECT audit_id FROM leakage_audits")) == 1
    assert len(two.query("SELECT * FROM leakage_items")) == len(one.query("SELECT * FROM leakage_items")) > 0


PERT = ("SELECT perturbation, n, clean_value, perturbed_value, delta, ci_low, ci_high, flip_rate, p_value, flagged "
        "FROM robustness_perturbations ORDER BY perturbation")


def test_robustness_two_processes_like_one_and_write_once(tmp_path, tiny_causal, data_root):
    args = ["audit", "robustness", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--limit", "6",
            "--perturbation", "uppercase", "--perturbation", "typos", "--device", "cpu", "--batch-size", "4",
            "--data-root", str(data_root)]
    one, two = Store(tmp_path / "one.duckdb"), Store(tmp_path / "two.duckdb")
    a = medtune([*args, "--db", str(one.path)], MEDTUNE_CACHE=str(tmp_path / "cache-a"))
    assert a.returncode == 0, a.stderr[-3000:]
    b = medtune([*args, "--db", str(two.path), "--processes", "2"], MEDTUNE_CACHE=str(tmp_path / "cache-b"))
    assert b.returncode == 0, b.stderr[-3000:]
    assert b.stdout.count("audit id:") == 1  # rank 0 alone prints
    audits = two.query("SELECT clean_value, n FROM robustness_audits")
    assert len(audits) == 1 and audits["n"][0] == 6
    assert audits["clean_value"][0] == pytest.approx(one.query("SELECT clean_value FROM robustness_audits")["clean_value"][0])
    ref, got = rows(one, PERT), rows(two, PERT)
    assert len(got) == len(ref) == 2
    for x, y in zip(ref, got):
        assert x[:2] == y[:2] and x[9] == y[9]
        assert y[2:9] == pytest.approx(x[2:9], rel=1e-6, abs=1e-9, nan_ok=True), x[0]
