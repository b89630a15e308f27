"""lm-eval tasks as medtune suites (issue #14, item 4): ``--suite lmeval:TASK`` with ``--lmeval-include``,
or the task YAML by path, scored through lm_eval.simple_evaluate on the loaded tiny model; every sample
and metric (with CIs) lands in the store like a native suite's. Offline: a local task over a local JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import suites
from harness.store import Store
from harness.store.runs import results_table
from tests.harness.clihelp import run_cli

ROWS = [{"q": "Is water wet?", "choices": ["yes", "no"], "label": 0},
        {"q": "Is fire cold?", "choices": ["yes", "no"], "label": 1},
        {"q": "Two plus two?", "choices": ["four", "five"], "label": 0},
        {"q": "Sky colour?", "choices": ["blue", "green", "red"], "label": 0}]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv(suites.ENV_LMEVAL, raising=False)
    suites.reset_user_suites()
    yield
    suites.reset_user_suites()


@pytest.fixture()
def task_dir(tmp_path) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "mini.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (folder / "mini_task.yaml").write_text(f"""task: medtune_test_mini
dataset_path: json
dataset_kwargs:
  data_files:
    test: {folder / 'mini.jsonl'}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{q}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
""")
    return folder


def test_an_lmeval_task_is_scored_into_the_store(capsys, tmp_path, task_dir, tiny_causal):
    db = tmp_path / "r.duckdb"
    args = ["eval", "-v", str(tiny_causal), "--name", "tiny", "--db", str(db), "--data-root", str(tmp_path)]
    code, out, err = run_cli(capsys, *args, "-s", "lmeval:medtune_test_mini", "--lmeval-include", str(task_dir))
    assert code == 0, err
    table = results_table(Store(db))
    got = {r.metric: r for r in table.itertuples() if r.suite == "lmeval:medtune_test_mini"}
    assert set(got) == {"acc", "acc_norm"} and got["acc"].n_samples == 4
    assert got["acc"].ci_low <= got["acc"].value <= got["acc"].ci_high
    with Store(db).connect() as con:
        rows = con.execute("SELECT s.doc_id, s.correct, s.scores, s.record FROM samples s JOIN runs r USING (run_id) "
                           "WHERE r.suite = 'lmeval:medtune_test_mini' ORDER BY s.sample_idx").fetchall()
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    record = json.loads(rows[3][3])
    assert record["doc"]["q"] == "Sky colour?" and len(record["arguments"]) == 3 and len(record["resps"]) == 3
    assert set(json.loads(rows[0][2])) == {"acc", "acc_norm"}
    # the same task by the path of its YAML: the same suite, so the identical run is a cache hit
    code, out, err = run_cli(capsys, *args, "-s", str(task_dir / "mini_task.yaml"))
    assert code == 0, err
    assert "cached" in out + err
    assert len(results_table(Store(db))) == 2


def test_lmeval_scores_match_the_native_engine_on_the_same_model(tmp_path, task_dir, tiny_causal):
    """The per-sample acc lm-eval stores equals a medtune docs: mapping suite over the same file and prompt."""
    import medtune

    (tmp_path / "native.yaml").write_text(
        "name: native_mini\nfamily: x\ntype: multiple_choice\nmetrics: [acc]\n"
        f"data: {{path: {task_dir / 'mini.jsonl'}}}\ndocs: {{question: q, choices: choices, gold: label}}\n"
        "doc_to_text: \"Question: {{ question }}\\nAnswer:\"\n")
    suites.add_lmeval_include([task_dir])
    db = tmp_path / "r.duckdb"
    res = medtune.evaluate(str(tiny_causal), ["lmeval:medtune_test_mini", str(tmp_path / "native.yaml")], name="tiny",
                           db=db, data_root=tmp_path)
    assert res[0].metrics["acc"].value == pytest.approx(res[1].metrics["acc"].value)


def test_an_unknown_task_is_one_line_exit_2(capsys, tmp_path, tiny_causal, task_dir):
    db = tmp_path / "r.duckdb"
    code, out, err = run_cli(capsys, "eval", "-v", str(tiny_causal), "-s", "lmeval:no_such_task_here",
                             "--lmeval-include", str(task_dir), "--db", str(db), "--data-root", str(tmp_path))
    assert code == 2 and "unknown lm-eval task 'no_such_task_here'" in err and not db.exists()
    (task_dir / "mini.jsonl").unlink()
    code, out, err = run_cli(capsys, "eval", "-v", str(tiny_causal), "-s", "lmeval:medtune_test_mini",
                             "--lmeval-include", str(task_dir), "--db", str(db), "--data-root", str(tmp_path))
    assert code == 2 and "lm-eval task medtune_test_mini: cannot be loaded" in err and not db.exists()


def test_a_task_file_in_a_suite_folder_is_an_lmeval_suite(task_dir):
    assert suites.resolve_suite_names([str(task_dir)]) == ["lmeval:medtune_test_mini"]
    suite = suites.load_suite("lmeval:medtune_test_mini")
    assert suite.spec.family == "lmeval" and suite.spec.metrics == ["acc", "acc_norm"] and len(suite.docs()) == 4
    assert suites.suite_sources()["lmeval:medtune_test_mini"].source == str(task_dir)
