"""Issue #27: bad input and rough edges found by trying the product as users do. Each case is one line and
exit 2 (or the documented behaviour), with nothing written: no DB rows, no file beside a refused input.

Models are not the point here: ``--backend mock`` scores without model files, on tiny data roots."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import duckdb
import pytest

import suites
from harness.errors import ConfigError, DataError, MedtuneError
from harness.store import Store
from suites import load_suite
from tests.harness.clihelp import run_cli
from tests.harness.test_bad_data import MEDMCQA, MEDQA, PUBMED, jsonl, pubmed_root, put

MOCK = ("--backend", "mock")


@pytest.fixture(autouse=True)
def _fresh_user_suites(monkeypatch):
    monkeypatch.delenv(suites.ENV_DIRS, raising=False)
    suites.reset_user_suites()
    yield
    suites.reset_user_suites()


@pytest.fixture()
def root(tmp_path) -> Path:
    """A data root with three MedQA questions."""
    data = tmp_path / "data"
    put(data, "medqa_usmle/test.jsonl", jsonl(MEDQA, MEDQA, MEDQA))
    return data


def one_line_exit_2(code: int, out: str, err: str) -> str:
    """The error line of a refused command (exit 2, one line, no traceback)."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def eval_argv(root: Path, db: Path, *extra: str, suite: str = "medqa_usmle") -> list[str]:
    return ["eval", "-v", "anything", *MOCK, "-s", suite, "--data-root", str(root), "--db", str(db), *extra]


# -- command-line values -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (("-v", ""), "--variant '': expected a variant name"),
    (("-v", "  "), "--variant '  ': expected a variant name"),
    (("--name", ""), "--name '': expected a non-empty name"),
    (("--db", ""), "--db '': expected a file path"),
    (("--seed", "-1"), "--seed -1: expected an integer from 0 to 4294967295"),
    (("--data-root", ""), "--data-root '': expected a folder"),
], ids=["variant", "variant-blank", "name", "db", "seed", "data-root"])
def test_empty_names_paths_and_negative_seeds_are_refused(capsys, tmp_path, root, monkeypatch, change, message):
    monkeypatch.chdir(tmp_path)  # `--db ''` used to fall back to ./medtune.duckdb and "resume" its runs
    before = files_in(tmp_path)
    argv = eval_argv(root, tmp_path / "r.duckdb")
    flag, value = change
    i = argv.index(flag) if flag in argv else None
    if i is None:
        argv += [flag, value]
    else:
        argv[i + 1] = value
    assert message in one_line_exit_2(*run_cli(capsys, *argv))
    assert files_in(tmp_path) == before


def test_an_empty_suite_folder_is_refused(capsys, tmp_path, root):
    (tmp_path / "empty").mkdir()
    line = one_line_exit_2(*run_cli(capsys, *eval_argv(root, tmp_path / "r.duckdb", suite=str(tmp_path / "empty") + "/")))
    assert "no suite files in this folder" in line and not (tmp_path / "r.duckdb").exists()


@pytest.mark.parametrize("processes", ["0", "-1", "4096"])
@pytest.mark.parametrize("command", ["eval", "tune"])
def test_processes_below_one_or_beyond_the_machine_is_refused(capsys, tmp_path, root, monkeypatch, command, processes):
    from harness import distributed

    monkeypatch.setattr(distributed, "relaunch", lambda *a, **k: pytest.fail("workers started"))
    if command == "eval":
        argv = eval_argv(root, tmp_path / "r.duckdb", "--processes", processes)
    else:
        argv = ["tune", "demo_dapt_smollm2", "--set", f"output_dir={tmp_path / 'out'}", "--db", str(tmp_path / "r.duckdb"),
                "--data-root", str(root), "--processes", processes]
    line = one_line_exit_2(*run_cli(capsys, *argv))
    expected = "expected an integer >= 1" if int(processes) < 1 else "one process each" if _cuda() else "CPU(s)"
    assert f"--processes {processes}: " in line and expected in line
    assert not (tmp_path / "r.duckdb").exists() and not (tmp_path / "out").exists()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_lm_eval_engine_with_processes_is_refused_before_any_worker_starts(capsys, tmp_path, root, tiny_causal,
                                                                         monkeypatch):
    from harness import distributed

    monkeypatch.setattr(distributed, "relaunch", lambda *a, **k: pytest.fail("workers started"))
    argv = ["eval", "-v", str(tiny_causal), "-s", "medqa_usmle", "--engine", "lm-eval", "--processes", "2",
            "--data-root", str(root), "--db", str(tmp_path / "r.duckdb")]
    assert "--processes splits documents for the native engine only" in one_line_exit_2(*run_cli(capsys, *argv))


def test_a_system_prompt_without_a_chat_template_is_refused(capsys, tmp_path, root):
    """It was not applied, yet the run was labelled "+sys": a recorded setting must be an applied one."""
    line = one_line_exit_2(*run_cli(capsys, *eval_argv(root, tmp_path / "r.duckdb", "--system-prompt", "Be brief.")))
    assert "a system prompt is applied only through the model's chat template" in line
    assert not (tmp_path / "r.duckdb").exists()


def test_models_lists_a_built_in_model_once(capsys, tmp_path, root):
    db = tmp_path / "r.duckdb"
    code, out, err = run_cli(capsys, "eval", "-v", "smollm2-135m", *MOCK, "-s", "medqa_usmle", "--data-root", str(root),
                             "--db", str(db))
    assert code == 0, err
    from harness.models import list_models

    assert [m["name"] for m in list_models(Store(db))].count("smollm2-135m") == 2  # a built-in, and a variant now
    code, out, err = run_cli(capsys, "models", "--db", str(db))
    rows = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│") and line.split("│")[1].strip()]
    assert code == 0 and rows == ["smollm2-135m", "minilm-l6"], out


def test_forgetting_takes_suites_dir_as_the_readme_says(capsys, tmp_path, root):
    (tmp_path / "mine").mkdir()
    line = one_line_exit_2(*run_cli(capsys, "forgetting", "--suites-dir", str(tmp_path / "mine"), "--variant", "nope",
                                    "--db", str(tmp_path / "r.duckdb"), "--data-root", str(root)))
    assert "variant 'nope' is not in the DB" in line  # past the option: the usual check of the variant


@pytest.mark.parametrize("command", ["eval", "suites", "forgetting", "gate", "tune", "audit leakage", "audit robustness"])
def test_every_command_that_loads_suites_takes_suites_dir(command):
    from tests.harness.test_cli_exit import COMMANDS

    [cmd] = [cmd for path, cmd in COMMANDS if " ".join(path) == command]
    assert any("--suites-dir" in getattr(p, "opts", ()) for p in cmd.params)


# -- few-shot counts -----------------------------------------------------------------------------------

def _mapped_suite(tmp_path, extra: str = "", rows: int = 3) -> Path:
    put(tmp_path, "data/x.jsonl", jsonl(*({"q": f"Q{i}", "a": "yes", "b": "no", "gold": i % 2} for i in range(rows))))
    return put(tmp_path, "s/t.yaml", "name: t\nfamily: x\ntype: multiple_choice\ndata: {path: x.jsonl}\n"
                                     f"docs: {{question: q, choices: [a, b], gold: gold}}\n{extra}")


@pytest.mark.parametrize("argv_extra, yaml_extra, message", [
    (("--num-fewshot", "50"), "", "--num-fewshot 50, but its few-shot pool holds only 2 example(s)"),
    ((), "num_fewshot: 5\n", "its num_fewshot: 5, but its few-shot pool holds only 2 example(s)"),
], ids=["cli", "yaml"])
def test_more_shots_than_the_pool_holds_are_refused(capsys, tmp_path, argv_extra, yaml_extra, message):
    path = _mapped_suite(tmp_path, yaml_extra)
    db = tmp_path / "r.duckdb"
    line = one_line_exit_2(*run_cli(capsys, "eval", "-v", "m", *MOCK, "-s", str(path), *argv_extra,
                                    "--data-root", str(tmp_path / "data"), "--db", str(db)))
    assert message in line and not db.exists()


def test_a_negative_num_fewshot_in_a_suite_file_names_its_line(tmp_path):
    path = _mapped_suite(tmp_path, "num_fewshot: -1\n")
    with pytest.raises(ConfigError, match=r"t.yaml:6: field 'num_fewshot': Input should be greater than or equal to 0"):
        load_suite(str(path))


def test_mmlu_5shot_at_its_own_count_still_runs(capsys, tmp_path):
    put(tmp_path, "mmlu_medical/test/anatomy_test.csv", "q,a,b,c,d,A\nq2,a,b,c,d,B\n")
    put(tmp_path, "mmlu_medical/dev/anatomy_dev.csv", "".join(f"d{i},a,b,c,d,C\n" for i in range(5)))
    code, out, err = run_cli(capsys, "eval", "-v", "m", *MOCK, "-s", "mmlu_medical_5shot", "-o", "subjects=anatomy",
                             "--data-root", str(tmp_path), "--db", str(tmp_path / "r.duckdb"))
    assert code == 0, err
    line = one_line_exit_2(*run_cli(capsys, "eval", "-v", "m", *MOCK, "-s", "mmlu_medical_5shot", "-o",
                                    "subjects=anatomy", "--num-fewshot", "6", "--data-root", str(tmp_path),
                                    "--db", str(tmp_path / "r.duckdb")))
    assert "holds only 5 example(s) for document 'anatomy:1' (group 'anatomy'): ask for at most 5" in line


# -- results DBs that are not medtune's, and paths a DB cannot live at ---------------------------------

def _fingerprint(path: Path) -> tuple:
    return path.read_bytes(), path.stat().st_mtime_ns, files_in(path.parent)


@pytest.mark.parametrize("command, table", [
    ("eval", "CREATE TABLE runs (run_id VARCHAR, variant VARCHAR)"),
    ("results", "CREATE TABLE metrics (run_id VARCHAR, metric VARCHAR, value DOUBLE)"),
])
def test_a_foreign_duckdb_with_a_medtune_table_name_is_never_migrated(capsys, tmp_path, root, command, table):
    folder = tmp_path / "dbs"
    folder.mkdir()
    db = folder / "other.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(table)
    before = _fingerprint(db)
    argv = eval_argv(root, db) if command == "eval" else ["results", "--db", str(db)]
    line = one_line_exit_2(*run_cli(capsys, *argv))
    assert f"{db} is not a medtune results DB (it has tables {table.split()[2]} but no schema_version)" in line
    assert _fingerprint(db) == before  # not one byte, and no .lock left beside it


def test_an_sqlite_file_is_refused_in_one_line_without_a_lock_beside_it(capsys, tmp_path):
    folder = tmp_path / "dbs"
    folder.mkdir()
    db = folder / "results.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (a)")
    before = _fingerprint(db)
    line = one_line_exit_2(*run_cli(capsys, "results", "--db", str(db)))
    assert line == f"error: {db} is not a medtune results DB (it is not a DuckDB file: an SQLite database); pass --db to another file"
    assert _fingerprint(db) == before


@pytest.mark.parametrize("case", ["lock-is-a-folder", "parent-is-a-file", "db-is-a-folder"])
@pytest.mark.parametrize("command", ["eval", "results"])
def test_db_paths_that_cannot_hold_a_db(capsys, tmp_path, root, case, command):
    if case == "lock-is-a-folder":
        db = tmp_path / "r.duckdb"
        (tmp_path / "r.duckdb.lock").mkdir()
        message = f"{db}.lock is a folder: medtune locks r.duckdb through a file of that name"
    elif case == "parent-is-a-file":
        (tmp_path / "notes.txt").write_text("x")
        db = tmp_path / "notes.txt" / "sub" / "r.duckdb"
        message = f"{db}: {tmp_path / 'notes.txt'} is a file, not a folder"
    else:
        db = tmp_path / "r.duckdb"
        db.mkdir()
        message = f"{db} is a folder, expected a DuckDB file"
    before = files_in(tmp_path)
    argv = eval_argv(root, db) if command == "eval" else ["results", "--db", str(db)]
    assert message in one_line_exit_2(*run_cli(capsys, *argv))
    assert files_in(tmp_path) == before


# -- process_docs functions and templates that go wrong ------------------------------------------------

PROCESS_DOCS = {
    "raises": ("raise RuntimeError('the API is down')", r"raised RuntimeError: the API is down \(at my_utils.py:3\)"),
    "keyerror": ("return [{'id': r['nope']} for r in [{}]]", r"raised KeyError: 'nope' \(at my_utils.py:3\)"),
    "none": ("return None", r"returned None, expected a list of documents"),
    "no-gold": ("return [{'id': '1', 'question': 'q', 'choices': ['a', 'b']}]",
                r"returned document 0 \(id '1'\) without 'gold' \(the index of the correct option, 0..1\)"),
    "gold-out-of-range": ("return [{'id': '1', 'question': 'q', 'choices': ['a', 'b'], 'gold': 2}]",
                          r"returned document 0 \(id '1'\) with 'gold' 2, expected an integer index 0..1"),
    "exits": ("import sys; sys.exit(3)", r"called sys.exit\(3\) instead of returning documents"),
    "duplicate-ids": ("return [{'id': 'a', 'question': 'q', 'choices': ['x', 'y'], 'gold': 0}] * 2",
                      r"returned documents 0 and 1 with the same id 'a'"),
}


def _py_suite(tmp_path, body: str) -> Path:
    put(tmp_path, "s/my_utils.py", f"def records_to_docs(root, spec, options):\n    # one line above the body\n    {body}\n")
    return put(tmp_path, "s/custom.yaml", "name: custom\nfamily: ours\ntype: multiple_choice\ndata: {path: unused.jsonl}\n"
                                          "process_docs: my_utils.py:records_to_docs\n")


@pytest.mark.parametrize("case", sorted(PROCESS_DOCS))
def test_a_process_docs_that_goes_wrong_names_the_file_and_function(tmp_path, case):
    body, message = PROCESS_DOCS[case]
    path = _py_suite(tmp_path, body)
    with pytest.raises(ConfigError, match=rf"custom.yaml: process_docs .*my_utils.py:records_to_docs {message}"):
        load_suite(str(path)).docs(tmp_path)


def test_a_process_docs_that_exits_is_one_line_on_the_cli_and_writes_nothing(capsys, tmp_path):
    path = _py_suite(tmp_path, PROCESS_DOCS["exits"][0])
    db = tmp_path / "r.duckdb"
    line = one_line_exit_2(*run_cli(capsys, "eval", "-v", "m", *MOCK, "-s", str(path), "--data-root", str(tmp_path),
                                    "--db", str(db)))
    assert "called sys.exit(3)" in line and not db.exists()


@pytest.mark.parametrize("field, value, message", [
    ("docs", "{question: '{{ q ', choices: [a, b], gold: gold}", r"t.yaml:5: field 'docs.question' is not a valid Jinja template"),
    ("docs", "{question: q, choices: ['{% if a %}{{ a }}', b], gold: gold}", r"t.yaml:5: field 'docs.choices\[0\]' is not a valid Jinja"),
    ("doc_to_text", "'Q: {{ question }'", r"t.yaml:6: field 'doc_to_text' is not a valid Jinja template \(unexpected '}'"),
], ids=["docs-question", "docs-choice", "doc_to_text"])
def test_a_jinja_syntax_error_names_the_yaml_line_and_the_template(tmp_path, field, value, message):
    docs = value if field == "docs" else "{question: q, choices: [a, b], gold: gold}"
    extra = f"doc_to_text: {value}\n" if field == "doc_to_text" else ""
    put(tmp_path, "t.yaml", f"name: t\nfamily: x\ntype: multiple_choice\ndata: {{path: x.jsonl}}\ndocs: {docs}\n{extra}")
    with pytest.raises(ConfigError, match=message):
        load_suite(str(tmp_path / "t.yaml"))


@pytest.mark.parametrize("metrics, message", [
    ("[acc, f1]", r"t.yaml:6: field 'metrics\[1\]' is 'f1', which suite type multiple_choice does not report \(it reports: acc, acc_norm"),
    ("[]", r"t.yaml:6: field 'metrics' is an empty list: name at least one metric"),
    ("acc", r"t.yaml:6: field 'metrics': Input should be a valid list"),
    ("[perplexity]", r"'perplexity', which suite type multiple_choice does not report"),
], ids=["another-types-metric", "empty", "not-a-list", "unknown"])
def test_metrics_a_suite_type_does_not_report_are_refused(tmp_path, metrics, message):
    put(tmp_path, "t.yaml", "name: t\nfamily: x\ntype: multiple_choice\ndata: {path: x.jsonl}\n"
                            f"docs: {{question: q, choices: [a, b], gold: gold}}\nmetrics: {metrics}\n")
    with pytest.raises(ConfigError, match=message):
        load_suite(str(tmp_path / "t.yaml"))


# -- data that holds less, or other, than the suite says -------------------------------------------------

def test_duplicate_medmcqa_ids_name_both_lines(tmp_path):
    put(tmp_path, "medmcqa/dev.jsonl", jsonl({**MEDMCQA, "id": "q1"}, {**MEDMCQA, "id": "q2"}, {**MEDMCQA, "id": "q1"}))
    with pytest.raises(DataError, match=r"dev.jsonl:3: id 'q1' repeats the record at line 1"):
        load_suite("medmcqa").docs(tmp_path)


def test_an_empty_mmlu_subject_file_is_refused(tmp_path):
    put(tmp_path, "mmlu_medical/test/anatomy_test.csv", "q,a,b,c,d,A\n")
    put(tmp_path, "mmlu_medical/test/virology_test.csv", "")
    with pytest.raises(DataError, match=r"virology_test.csv: holds no questions: subject virology of the suite's split"):
        load_suite("mmlu_medical", {"subjects": ["anatomy", "virology"]}).docs(tmp_path)


def test_pubmedqa_test_ids_missing_from_the_data_are_refused(tmp_path):
    pubmed_root(tmp_path, {"1": PUBMED, "2": PUBMED}, ids={"1": "yes", "2": "no", "3": "yes"})
    with pytest.raises(DataError, match=r"ori_pqal.json: holds 2 of the 3 test ids that test_ground_truth.json names "
                                        r"\(1 missing, e.g. 3\): the data holds fewer items than the suite's split"):
        load_suite("pubmedqa").docs(tmp_path)


def test_a_fifo_data_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "medqa_usmle" / "test.jsonl"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    outcome: list = []

    def load():
        try:
            load_suite("medqa_usmle").docs(tmp_path)
        except Exception as exc:  # noqa: BLE001
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader before failing, so the test process can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO data file blocked")
    assert isinstance(outcome[0], DataError)
    assert "test.jsonl: is not a regular file (a FIFO or device?), expected a data file" in str(outcome[0])


# -- what the run key covers ----------------------------------------------------------------------------

def test_a_helper_py_beside_the_process_docs_file_is_part_of_the_version(tmp_path):
    put(tmp_path, "s/helpers.py", "PREFIX = 'a'\n")
    path = _py_suite(tmp_path, "return [{'id': '1', 'question': 'q', 'choices': ['x', 'y'], 'gold': 0}]")
    before = load_suite(str(path)).version
    put(tmp_path, "s/helpers.py", "PREFIX = 'b'\n")
    assert load_suite(str(path)).version != before


def test_a_data_edit_that_keeps_size_and_mtime_changes_the_data_hash(tmp_path):
    from harness import evaluate

    root = tmp_path / "data"
    f = put(root, "medqa_usmle/test.jsonl", jsonl({**MEDQA, "answer_idx": "A"}))
    old = time.time() - 3600
    os.utime(f, (old, old))
    suite = load_suite("medqa_usmle")
    before = evaluate.data_hash(suite, root)
    evaluate._HASHES.clear()  # a new process: the hash cache on disk answers
    st = f.stat()
    f.write_text(f.read_text().replace('"A"', '"C"'))  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime back
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    assert evaluate.data_hash(suite, root) != before


# -- gate policies that can never pass -------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["acc", "f1_Disease"])
def test_a_min_score_above_1_for_a_share_is_refused(tmp_path, metric):
    from harness.gate import load_policy

    path = put(tmp_path, "gate.yaml", f"rules:\n  - rule: min_score\n    metric: {metric}\n    min: 60\n")
    with pytest.raises(ConfigError, match=rf"gate.yaml:4: rules\[0\].min: is 60, but {metric} is a share between 0 and 1"):
        load_policy(path)
    put(tmp_path, "gate.yaml", "rules:\n  - rule: min_score\n    metric: word_perplexity\n    min: 60\n")
    load_policy(path)  # not a share: any bound can be met


def test_the_gate_cli_refuses_it_before_writing(capsys, tmp_path):
    path = put(tmp_path, "gate.yaml", "rules:\n  - rule: min_score\n    suite: medqa_usmle\n    min: 1.5\n")
    db = tmp_path / "r.duckdb"
    line = one_line_exit_2(*run_cli(capsys, "gate", "--candidate", "c", "--policy", str(path), "--db", str(db)))
    assert "rules[0].min: is 1.5, but acc is a share between 0 and 1" in line and not db.exists()


# -- own suites: data.path lists and globs, errors that name the fixing key, prompts --------------------

def test_data_path_takes_a_list_and_a_glob(tmp_path):
    for i in range(3):
        put(tmp_path, f"golden/batch{i}.jsonl", jsonl({"q": f"Q{i}", "a": "yes", "b": "no", "gold": i % 2}))
    put(tmp_path, "extra.jsonl", jsonl({"q": "Q9", "a": "yes", "b": "no", "gold": 1}))
    for path in ("'golden/*.jsonl'", "[golden/batch0.jsonl, 'golden/batch[12].jsonl', extra.jsonl]"):
        put(tmp_path, "t.yaml", f"name: t\nfamily: x\ntype: multiple_choice\ndata: {{path: {path}}}\n"
                                "docs: {question: q, choices: [a, b], gold: gold}\n")
        suite = load_suite(str(tmp_path / "t.yaml"))
        docs = suite.docs(tmp_path)
        assert [d["question"] for d in docs] == ["Q0", "Q1", "Q2"] + (["Q9"] if "extra" in path else [])
        assert docs[0]["id"] == "batch0.jsonl:1"
    from harness.evaluate import suite_data_files

    assert len(suite_data_files(suite, tmp_path)) == 4  # every file read is hashed into the run key
    put(tmp_path, "t.yaml", "name: t\nfamily: x\ntype: multiple_choice\ndata: {path: 'gold/*.jsonl'}\n"
                            "docs: {question: q, choices: [a, b], gold: gold}\n")
    with pytest.raises(MedtuneError, match=r"data.path 'gold/\*.jsonl' matches no file"):
        load_suite(str(tmp_path / "t.yaml")).docs(tmp_path)


def test_the_same_id_in_two_files_names_both(tmp_path):
    put(tmp_path, "a.jsonl", jsonl({"id": "x", "q": "Q", "a": "yes", "b": "no", "gold": 0}))
    put(tmp_path, "b.jsonl", jsonl({"id": "y", "q": "Q", "a": "yes", "b": "no", "gold": 0},
                                   {"id": "x", "q": "Q", "a": "yes", "b": "no", "gold": 0}))
    put(tmp_path, "t.yaml", "name: t\nfamily: x\ntype: multiple_choice\ndata: {path: [a.jsonl, b.jsonl]}\n"
                            "docs: {id: id, question: q, choices: [a, b], gold: gold}\n")
    with pytest.raises(DataError, match=r"b.jsonl:2: id 'x' repeats the record at .*a.jsonl:1"):
        load_suite(str(tmp_path / "t.yaml")).docs(tmp_path)


@pytest.mark.parametrize("data, docs, message", [
    ("{path: x.json}", "{question: q, choices: [a, b], gold: gold}",
     r"x.json:2: expected a JSON object \(a record\), found a list under key 'items'; if the records are under "
     r"'items', set data.records: items"),
    ("{path: y.jsonl}", "{question: q, fixed_choices: [yes, no], gold: answer}",
     r"y.jsonl:1: field 'answer' is 'no', expected an integer 0..1 \(the option text itself: set docs.gold_format: text\)"),
    ("{path: y.jsonl}", "{question: q, fixed_choices: [yes, no], gold: letter}",
     r"field 'letter' is 'B', expected an integer 0..1 \(an option letter: set docs.gold_format: letter\)"),
], ids=["records", "text-gold", "letter-gold"])
def test_mapping_errors_name_the_key_that_fixes_them(tmp_path, data, docs, message):
    (tmp_path / "x.json").write_text(json.dumps({"items": [{"q": "Q", "a": "x", "b": "y", "gold": 0}]}, indent=1))
    put(tmp_path, "y.jsonl", jsonl({"q": "Q", "answer": "no", "letter": "B"}))
    put(tmp_path, "t.yaml", f"name: t\nfamily: x\ntype: multiple_choice\ndata: {data}\ndocs: {docs}\n")
    with pytest.raises(DataError, match=message):
        load_suite(str(tmp_path / "t.yaml")).docs(tmp_path)


def test_a_doubled_answer_cue_is_warned_and_check_shows_the_prompt(capsys, tmp_path):
    put(tmp_path, "data/x.jsonl", jsonl({"q": "Context: it rains.\nQuestion: wet?\nAnswer:", "a": "yes", "b": "no",
                                         "gold": 0}))
    path = put(tmp_path, "s/t.yaml", "name: t\nfamily: x\ntype: multiple_choice\ndata: {path: x.jsonl}\n"
                                     "docs: {question: q, choices: [a, b], gold: gold}\n")
    common = ["--data-root", str(tmp_path / "data")]
    code, out, err = run_cli(capsys, "eval", "-v", "m", *MOCK, "-s", str(path), *common, "--db", str(tmp_path / "r.duckdb"))
    assert code == 0, err
    assert "warning: suite t: 1 of 1 questions already end with an answer cue" in " ".join(err.split())
    code, out, err = run_cli(capsys, "suites", "--check", "-s", str(path), *common)
    assert code == 0, err
    assert "prompt of t (first document):" in out and "Answer:\nAnswer:" in out
    assert "already end with an answer cue" in " ".join(err.split())


def test_letter_options_are_labelled_letter(capsys, tmp_path):
    put(tmp_path, "data/x.jsonl", jsonl(*({"q": f"Q{i}: which? A) x B) y", "gold": "A"} for i in range(2))))
    path = put(tmp_path, "s/t.yaml", "name: t\nfamily: x\ntype: multiple_choice\ndata: {path: x.jsonl}\n"
                                     "docs: {question: q, fixed_choices: [A, B], gold: gold, gold_format: letter}\n")
    db = tmp_path / "r.duckdb"
    code, out, err = run_cli(capsys, "eval", "-v", "m", *MOCK, "-s", str(path), "--data-root", str(tmp_path / "data"),
                             "--db", str(db))
    assert code == 0, err
    [label] = Store(db).query("SELECT protocol FROM runs")["protocol"]
    assert label == "letter 0-shot"


def test_tune_suggests_a_suite_with_the_same_labels_and_says_an_encoder(tmp_path):
    from harness.cli.tune_cmd import next_step
    from harness.engine import check_compatible

    put(tmp_path, "ner/ncbi_disease/test.tsv", "fever\tB-Disease\n")
    put(tmp_path, "ner/bc5cdr/test.tsv", "aspirin\tB-Chemical\n\nfever\tB-Disease\n")
    bc2gm = ["O", "B-GENE", "I-GENE"]
    text = next_step("v", {"objective": "token_classification", "labels": bc2gm}, ["ner/bc2gm/train.tsv"], tmp_path)
    assert text.startswith("no suite's data has its labels") and "ner_ncbi_disease" not in text
    text = next_step("v", {"objective": "token_classification", "labels": ["O", "B-Disease", "I-Disease"]},
                     ["ner/bc2gm/train.tsv"], tmp_path)
    assert text.endswith("--suite ner_ncbi_disease")

    class Encoder:
        info = type("Info", (), {"name": "tagger", "kind": "encoder"})()
        model_kinds = ("encoder",)

        def supports(self, kind):
            return kind == "token_labels"

    with pytest.raises(MedtuneError, match=r"needs a causal model .* tagger is an encoder model"):
        check_compatible(load_suite("medqa_usmle"), Encoder())


def test_tune_pubmedqa_with_one_record_names_its_source(tmp_path):
    from tuning.data import load_training_data
    from tuning.recipe import Data

    pubmed_root(tmp_path, {"1": PUBMED, "2": PUBMED}, ids={"1": "yes"})
    with pytest.raises(MedtuneError, match=r"data: 1 usable record in the pubmedqa suite's train split; need at least 2"):
        load_training_data(Data(format="pubmedqa"), tmp_path, 0)
    (tmp_path / "corpus").mkdir()
    with pytest.raises(MedtuneError, match=r"data.files: .*corpus is a folder, expected a file"):
        load_training_data(Data(files=["corpus"]), tmp_path, 0)


def test_an_lmeval_suite_records_its_engine_and_chosen_options_without_git_noise(capfd, tmp_path, tiny_causal,
                                                                                   monkeypatch):
    from tests.harness.test_lmeval_tasks import ROWS

    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "mini.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (folder / "mini_task.yaml").write_text(
        f"task: medtune_rough_mini\ndataset_path: json\ndataset_kwargs: {{data_files: {{test: {folder / 'mini.jsonl'}}}}}\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: \"Question: {{q}}\\nAnswer:\"\n"
        "doc_to_choice: \"{{choices}}\"\ndoc_to_target: label\nmetric_list: [{metric: acc, aggregation: mean}]\n")
    monkeypatch.chdir(tmp_path)  # not a git repository: lm-eval's `git describe` printed "fatal: ..." here
    db = tmp_path / "r.duckdb"
    code, out, err = run_cli(capfd, "eval", "-v", str(tiny_causal), "--name", "tiny", "-s", "lmeval:medtune_rough_mini",
                             "--lmeval-include", str(folder), "--db", str(db), "--data-root", str(tmp_path))
    assert code == 0, err
    assert "fatal" not in out + err
    assert list(Store(db).query("SELECT engine FROM runs")["engine"]) == ["lm-eval"]
    rows = Store(db).query("SELECT prediction, record FROM samples ORDER BY sample_idx")
    for prediction, record in zip(rows["prediction"], rows["record"]):
        lls = json.loads(record)["loglikelihoods"]
        assert prediction == str(max(range(len(lls)), key=lls.__getitem__))  # the chosen option, as a native suite
