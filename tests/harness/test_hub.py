"""``data.hub`` stands in for a missing local file (issue #14, item 3), offline: a local folder in the
hub layout (``data/test-00000-of-00001.parquet``) is what ``datasets.load_dataset`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import suites
from harness.errors import MedtuneError
from suites import load_suite
from suites._hub import HubSpec
from tests.harness.clihelp import run_cli


@pytest.fixture(autouse=True)
def _fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDTUNE_CACHE", str(tmp_path / "cache"))
    suites.reset_user_suites()
    yield
    suites.reset_user_suites()


@pytest.fixture()
def hub_folder(tmp_path) -> Path:
    """A dataset folder as the hub serves it: data/<split>-00000-of-00001.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "hub" / "clinic-qa"
    (folder / "data").mkdir(parents=True)
    rows = {"question": ["Q1?", "Q2?", "Q3?"], "options": [{"A": "a1", "B": "b1"}, {"A": "a2", "B": "b2"}, {"A": "a3", "B": "b3"}],
            "answer_idx": ["A", "B", "A"], "kind": ["x", "y", "x"]}
    pq.write_table(pa.table(rows), folder / "data" / "test-00000-of-00001.parquet")
    pq.write_table(pa.table({k: v[:1] for k, v in rows.items()}), folder / "data" / "train-00000-of-00001.parquet")
    return folder


def _yaml(tmp_path: Path, hub: str, extra: str = "") -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: hubbed\nfamily: x\ntype: multiple_choice\ndata:\n  path: missing/test.jsonl\n  hub: {hub}\n{extra}"
                    "docs: {question: question, choices: options, gold: answer_idx, gold_format: letter}\n")
    return path


def test_a_mapping_suite_reads_the_hub_split_when_the_file_is_missing(tmp_path, hub_folder):
    suite = load_suite(str(_yaml(tmp_path, "{id: " + str(hub_folder) + ", split: test}", "  where: {kind: x}\n")))
    docs = suite.docs(tmp_path)
    assert [(d["question"], d["choices"], d["gold"]) for d in docs] == [("Q1?", ["a1", "b1"], 0), ("Q3?", ["a3", "b3"], 0)]
    train = load_suite(str(_yaml(tmp_path, "{id: " + str(hub_folder) + ", split: train}"))).docs(tmp_path)
    assert len(train) == 1


def test_the_local_file_wins_over_the_hub(tmp_path, hub_folder):
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing/test.jsonl").write_text(json.dumps({"question": "local", "options": {"A": "p", "B": "q"},
                                                             "answer_idx": "B"}) + "\n")
    docs = load_suite(str(_yaml(tmp_path, str(hub_folder)))).docs(tmp_path)
    assert [d["question"] for d in docs] == ["local"]


def test_a_process_docs_suite_reads_a_cached_jsonl_copy_of_the_hub_split(tmp_path, hub_folder):
    path = tmp_path / "medqa_like.yaml"
    path.write_text(f"include: _mc_base.yaml\nname: medqa_like\ndata:\n  path: nowhere/test.jsonl\n  format: jsonl\n"
                    f"  hub: {{id: {hub_folder}, split: test}}\nprocess_docs: qa.utils:medqa\n")
    docs = load_suite(str(path)).docs(tmp_path)
    assert [(d["question"], d["gold"]) for d in docs] == [("Q1?", 0), ("Q2?", 1), ("Q3?", 0)]
    copies = list((tmp_path / "cache" / "hub" / "jsonl").glob("*.jsonl"))
    assert len(copies) == 1  # cached: read again without the hub
    assert len(load_suite(str(path)).docs(tmp_path)) == 3


def test_hub_is_an_id_or_a_mapping_and_shipped_suites_keep_the_plain_id():
    assert load_suite("medqa_usmle").spec.data.hub == "GBaker/MedQA-USMLE-4-options"
    assert HubSpec(id="a/b", config="c", split="validation", revision="v1").split == "validation"


def test_offline_the_error_names_the_local_path_and_the_hub_id(tmp_path, capsys, monkeypatch, tiny_causal):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = _yaml(tmp_path, "{id: nobody/no-such-dataset, config: main, split: test}")
    with pytest.raises(MedtuneError, match=r"suite hubbed: data file .*missing/test.jsonl not found, and the hub dataset "
                                           r"nobody/no-such-dataset \(config=main, split=test\) could not be loaded \(offline"):
        load_suite(str(path)).docs(tmp_path)
    db = tmp_path / "r.duckdb"
    code, out, err = run_cli(capsys, "eval", "-v", str(tiny_causal), "-s", str(path), "--db", str(db),
                             "--data-root", str(tmp_path))
    assert code == 2 and "nobody/no-such-dataset" in err and "missing/test.jsonl" in err and not db.exists()


def test_the_run_key_data_hash_covers_the_hub_rows_a_suite_reads(tmp_path, hub_folder):
    """A suite reading the hub (its local file missing) is keyed by the rows it reads: other rows, another key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.evaluate import data_hash

    suite = load_suite(str(_yaml(tmp_path, "{id: " + str(hub_folder) + ", split: test}")))
    before = data_hash(suite, tmp_path)
    assert data_hash(suite, tmp_path) == before
    part = hub_folder / "data" / "test-00000-of-00001.parquet"
    table = pq.read_table(part).to_pydict()
    table["question"][1] = "Q2, reworded?"
    pq.write_table(pa.table(table), part)
    assert suite.docs(tmp_path)[1]["question"] == "Q2, reworded?"
    assert data_hash(suite, tmp_path) != before
    # with the local file present, the hub is not read and does not count
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing/test.jsonl").write_text(json.dumps({"question": "local", "options": {"A": "p", "B": "q"},
                                                             "answer_idx": "B"}) + "\n")
    local = data_hash(suite, tmp_path)
    pq.write_table(pa.table({k: v[:2] for k, v in table.items()}), part)
    assert data_hash(suite, tmp_path) == local
