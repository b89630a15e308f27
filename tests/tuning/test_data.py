"""Replay and canaries are mixed into the training split only, and recorded in the lineage."""

from __future__ import annotations

import sys
import types

import pytest

from harness.store import Store
from harness.store.variants import get_variant

LM = {"data__files": ["corpus/bio.txt"], "data__limit": 40, "data__eval_size": 4}


def test_replay_file_and_canaries_are_recorded(tmp_path, tiny_causal, tune_recipe, monkeypatch):
    planted = types.ModuleType("tuning.canaries")

    def plant_canaries(texts, count, repetitions, seed):
        records = [{"id": f"c{i}", "text": f"secret code {seed}-{i}"} for i in range(count)]
        return texts + [r["text"] for r in records for _ in range(repetitions)], records

    planted.plant_canaries = plant_canaries
    monkeypatch.setitem(sys.modules, "tuning.canaries", planted)
    out = tune_recipe("demo_dapt_smollm2", tiny_causal, name="mixed", data__replay={"file": "other/replay.txt", "ratio": 0.2},
                      data__canaries={"count": 3, "repetitions": 2, "seed": 5}, **LM)
    lin = get_variant(Store(tmp_path / "results.duckdb"), "mixed")["lineage"]
    roles = [f["role"] for f in lin["data_files"]]
    assert roles.count("replay") == 1 and roles.count("canary") == 1
    assert [c["id"] for c in lin["canaries"]] == ["c0", "c1", "c2"]
    assert lin["n_train_examples"] == 36 + 9 + 6  # corpus train split + replay (20%) + 3 canaries x 2
    assert lin["n_eval_examples"] == 4 and out.lineage["eval_ids"] == lin["eval_ids"]


def test_self_rehearsal_is_generated_once_and_cached(tmp_path, tiny_causal, tune_recipe, monkeypatch):
    monkeypatch.setenv("MEDTUNE_CACHE", str(tmp_path / "cache"))
    sets = dict(data__limit=12, data__eval_size=4, train__seq_length=96,
                data__replay={"ratio": 0.25, "self_max_new_tokens": 8})
    out = tune_recipe("sft_pubmedqa_smollm2", tiny_causal, name="r1", **sets)  # full-weight SFT on PubMedQA train
    cached = list((tmp_path / "cache" / "replay").glob("*.jsonl"))
    assert len(cached) == 1 and len(cached[0].read_text().splitlines()) == 3  # 8 train QA -> 3 replay passages
    assert [f for f in out.lineage["data_files"] if f["role"] == "replay"][0]["path"] == "self"
    assert out.method == "sft" and out.lineage["objective"] == "causal_lm"
    again = tune_recipe("sft_pubmedqa_smollm2", tiny_causal, name="r2", **sets)
    assert again.lineage["data_files"] == out.lineage["data_files"]  # the same cached passages (same sha256)
    assert [r["train_loss"] for r in again.curves] == [r["train_loss"] for r in out.curves]


def test_qa_loss_all_trains_the_records_the_audit_scores_as_members(tiny_data):
    """data.qa_loss=all: each PubMedQA record is LM text (loss on every token), rendered exactly as the
    leakage audit renders its membership-inference members; the default keeps the answer-only loss."""
    from harness.leakage import lineage as lin
    from tuning.data import load_training_data
    from tuning.recipe import Data

    answer_only = load_training_data(Data(format="pubmedqa", limit=12, eval_size=4), tiny_data, seed=42)
    assert all(e.answer for e in answer_only.train)
    whole = load_training_data(Data(format="pubmedqa", limit=12, eval_size=4, qa_loss="all"), tiny_data, seed=42)
    assert all(e.answer is None for e in whole.train) and len(whole.train) == 8
    held = {e.id for e in whole.eval}
    src = lin.Source("v", str(tiny_data / "pubmedqa" / "ori_pqal.json"), "train", "pubmedqa", None, held, 12)
    assert sorted(e.text for e in whole.train) == sorted(d.text for d in lin.documents(src))
    assert sorted(e.text for e in whole.train) == sorted(e.text + e.answer for e in answer_only.train)


def test_qa_loss_is_refused_for_a_corpus():
    import pytest
    from pydantic import ValidationError

    from tuning.recipe import Data

    with pytest.raises(ValidationError, match="qa_loss applies to format pubmedqa"):
        Data(format="text", files=["corpus/bio.txt"], qa_loss="all")


@pytest.mark.parametrize("fmt,name,content", [
    ("text", "notes.txt", "First line.\n\n  Second line, indented.  \nThird.\nFourth.\n"),
    ("text", "notes.jsonl", '{"text": "A JSON record."}\n\n{"messages": [{"content": "chat"}]}\n{"text": "x"}\n'),
    ("icd10", "codes.tsv", "A00\tCholera\t\n\nA00.0\tCholera due to Vibrio\tClassical cholera\nI21.9\tAcute MI\n"),
    ("icd10", "codes.txt", "A00\tCholera\t\nB01 X\tVaricella\nC00\tLip\n"),
])
def test_tuning_and_the_leakage_audit_read_the_same_records(tmp_path, fmt, name, content):
    """One reader: the ids tuning records (eval_ids) and the texts it trains on are what the audit reads back,
    trained and held-out records alike (the audit read .jsonl/.tsv/icd10 records differently from tuning)."""
    from harness.leakage import lineage as lin
    from tuning.data import load_training_data
    from tuning.recipe import Data

    (tmp_path / name).write_text(content)
    td = load_training_data(Data(format=fmt, files=[name], eval_size=1, limit=3), tmp_path, seed=1)
    src = lin.Source("v", str(tmp_path / name), "train", fmt, None, set(td.eval_ids), 3)
    assert sorted((d.id, d.text) for d in lin.documents(src)) == sorted((e.id, e.text) for e in td.train)
    assert [(d.id, d.text) for d in lin.documents(src, held_out=True)] == [(e.id, e.text) for e in td.eval]
    assert len(td.train) == 2
