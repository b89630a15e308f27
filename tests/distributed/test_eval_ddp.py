"""``medtune eval --processes 2`` (torch.distributed.run, gloo on CPU) on the tiny Llama: each rank scores
a slice of the documents, rank 0 gathers every sample and alone writes ONE run; per-sample
log-likelihoods (1e-5 relative), chosen options and metrics equal a one-process run. Resume is per rank."""

from __future__ import annotations

import json

import pytest

from harness.store import Store
from tests.distributed.conftest import medtune, torchrun

ARGS = ["--suite", "medqa_usmle", "--limit", "10", "--device", "cpu", "--batch-size", "4"]


def samples(db):
    df = Store(db).query("SELECT doc_id, prediction, record FROM samples ORDER BY doc_id")
    return {r.doc_id: (r.prediction, json.loads(r.record)["loglikelihoods"]) for r in df.itertuples()}


def metrics(db):
    df = Store(db).query("SELECT metric, value, ci_low, ci_high, n FROM metrics ORDER BY metric")
    return [tuple(r) for r in df.itertuples(index=False)]


def test_two_processes_score_like_one_and_write_one_run(tmp_path, tiny_causal, data_root):
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    common = ["eval", "--variant", str(tiny_causal), *ARGS, "--data-root", str(data_root)]
    from harness.evaluate import RunSettings, evaluate

    evaluate(str(tiny_causal), ["medqa_usmle"], RunSettings(limit=10, device="cpu", batch_size=4),
             store=Store(one), data_root=data_root, echo=lambda m: None)  # the one-process reference
    b = medtune([*common, "--db", str(two), "--processes", "2"], MEDTUNE_CACHE=str(tmp_path / "cache"))
    assert b.returncode == 0, b.stderr[-3000:]
    assert b.stdout.count("medqa_usmle") >= 1 and b.stdout.count("acc_norm") == 1  # rank 0 alone prints the table

    runs = Store(two).query("SELECT settings FROM runs")
    assert len(runs) == 1 and json.loads(runs.settings[0])["processes"] == 2
    ref, got = samples(one), samples(two)
    assert sorted(ref) == sorted(got) and len(got) == 10
    for doc, (pred, lls) in ref.items():
        assert got[doc][0] == pred, doc
        assert got[doc][1] == pytest.approx(lls, rel=1e-5), doc
    assert [m[0] for m in metrics(two)] == [m[0] for m in metrics(one)]
    for x, y in zip(metrics(one), metrics(two)):
        assert x[1:] == pytest.approx(y[1:], rel=1e-9), x[0]
    assert not list((tmp_path / "cache" / "partial").glob("*.jsonl"))  # every rank removed its partial file


def test_partial_files_are_per_rank_and_resume(tmp_path, monkeypatch):
    """Shards are contiguous (global document indexes kept) and each rank resumes its own partial file."""
    from harness import distributed
    from harness.eval_parallel import rank_partial

    monkeypatch.setenv("WORLD_SIZE", "3")
    bounds = []
    for r in range(3):
        monkeypatch.setenv("RANK", str(r))
        bounds.append(distributed.shard_bounds(10))
        assert rank_partial(tmp_path / "k.jsonl").name == f"k.rank{r}of3.jsonl"
    assert bounds == [(0, 4), (4, 7), (7, 10)]
