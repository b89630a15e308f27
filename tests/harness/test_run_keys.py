"""Run keys hold a content hash of the suite's data files; identical evals write one run."""

import json
import os
import time

from harness import evaluate
from harness.evaluate import RunSettings, cached_sha256, data_hash, prepare, run_planned, suite_data_files
from harness.models import resolve
from harness.store import Store
from suites import load_suite
from tests.harness.clihelp import run_cli

ITEMS = [{"question": f"Question {i}: which drug?", "options": {"A": "aspirin", "B": "heparin", "C": "statin"},
          "answer_idx": "A"} for i in range(3)]


def _data_root(tmp_path):
    root = tmp_path / "data"
    (root / "medqa_usmle").mkdir(parents=True)
    (root / "medqa_usmle/test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ITEMS))
    return root


def test_an_edited_data_file_is_scored_again(capsys, tiny_causal, tmp_path, db):
    root = _data_root(tmp_path)
    args = ["eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--db", str(db), "--data-root", str(root)]
    assert run_cli(capsys, *args)[0] == 0
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "cached" in out
    edited = [dict(r) for r in ITEMS]
    edited[1]["answer_idx"] = "B"  # same size, same ids: only the content tells
    (root / "medqa_usmle/test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in edited))
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "cached" not in out
    runs = Store(db).query("SELECT run_id, settings FROM runs ORDER BY finished_at")
    assert len(runs) == 2
    assert len({json.loads(s)["data_sha256"] for s in runs.settings}) == 2
    targets = Store(db).query("SELECT run_id, target FROM samples WHERE sample_idx = 1 ORDER BY run_id")
    assert sorted(targets.target) == ["0", "1"]


def test_data_files_of_a_suite(data_root):
    pubmedqa = [p.relative_to(data_root).as_posix() for p in suite_data_files(load_suite("pubmedqa"), data_root)]
    assert pubmedqa == ["pubmedqa/ori_pqal.json", "pubmedqa/test_ground_truth.json"]  # the test ids too
    five_shot = suite_data_files(load_suite("mmlu_medical_5shot"), data_root)
    zero_shot = suite_data_files(load_suite("mmlu_medical"), data_root)
    assert any("/dev/" in p.as_posix() for p in five_shot) and not any("/dev/" in p.as_posix() for p in zero_shot)
    assert len(zero_shot) > 1 and zero_shot == sorted(zero_shot)  # a folder: all its files, sorted


def test_file_hashes_are_cached_per_path_size_and_mtime(tmp_path, monkeypatch):
    calls = []
    real = evaluate.file_sha256
    monkeypatch.setattr(evaluate, "file_sha256", lambda p: calls.append(p) or real(p))
    f = tmp_path / "big.jsonl"
    f.write_text('{"answer": "A"}\n')
    old = time.time() - 3600
    os.utime(f, (old, old))
    first = cached_sha256(f)
    evaluate._HASHES.clear()  # a new process: the cache on disk answers
    assert cached_sha256(f) == first and len(calls) == 1
    f.write_text('{"answer": "B"}\n')  # same size, new mtime
    assert cached_sha256(f) != first and len(calls) == 2
    f.write_text('{"answer": "C"}\n')  # changed again within the same second: never served from a stale cache
    assert cached_sha256(f) == real(f)


def test_the_data_hash_changes_with_the_content(tmp_path):
    root = _data_root(tmp_path)
    suite = load_suite("medqa_usmle")
    before = data_hash(suite, root)
    (root / "medqa_usmle/test.jsonl").write_text((root / "medqa_usmle/test.jsonl").read_text().replace('"A"}', '"C"}', 1))
    assert data_hash(suite, root) != before


def _two_plans(tiny_causal, root, db, **kw):
    store = Store(db)
    evs = [prepare(str(tiny_causal), ["medqa_usmle"], RunSettings(limit=2, **kw), store=store, data_root=root)
           for _ in range(2)]
    return [(ev, ev.ref, ev.planned) for ev in evs]


def test_an_identical_eval_that_finished_meanwhile_is_reused(tiny_causal, tmp_path, db):
    (a, ref, plan_a), (b, _, plan_b) = _two_plans(tiny_causal, _data_root(tmp_path), db)
    assert plan_a[0].cached is None and plan_b[0].cached is None  # both planned before either wrote
    assert len(run_planned(a, echo=lambda m: None)) == 1
    said = []
    assert run_planned(b, echo=said.append) == []
    assert any("cached (written by a concurrent run)" in m for m in said)
    assert len(Store(db).query("SELECT * FROM runs")) == 1


def test_the_writer_checks_the_key_again_inside_its_transaction(tiny_causal, tmp_path, db, monkeypatch):
    """Processes that do not share a cache folder (so no key lock): the DB write itself refuses the duplicate."""
    (a, ref, plan_a), (b, _, plan_b) = _two_plans(tiny_causal, _data_root(tmp_path), db)
    monkeypatch.setattr(evaluate, "find_run", lambda *args, **kw: None)
    run_planned(a, echo=lambda m: None)
    said = []
    assert run_planned(b, echo=said.append) == []
    assert any("cached (written by a concurrent run)" in m for m in said)
    assert len(Store(db).query("SELECT * FROM runs")) == 1
