"""Bring your own suites (issue #14): suite files and folders from anywhere, ``docs:`` mappings
(no code), a ``.py`` beside the YAML, hub datasets, and bad input as one line + exit 2.

The four README examples (yes/no/maybe with a context, a 4-to-5-option CSV exam, a general 2-choice
task, a CoNLL NER corpus with its own labels) are scored with the tiny models through ``medtune eval``."""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import pytest

import suites
from harness.errors import ConfigError, DataError, MedtuneError
from harness.store import Store
from harness.store.runs import results_table
from suites import list_suites, load_suite, resolve_suite_names, suite_sources
from tests.harness.clihelp import run_cli


@pytest.fixture(autouse=True)
def _fresh_user_suites(monkeypatch):
    monkeypatch.delenv(suites.ENV_DIRS, raising=False)
    suites.reset_user_suites()
    yield
    suites.reset_user_suites()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[dict], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


# -- the four README examples: one YAML each, no Python ----------------------------------------------

YESNO = """
    name: clinic_yesno
    family: medical_qa
    type: multiple_choice
    description: our clinic's yes/no/maybe questions, each with a passage
    data: {path: clinic/yesno.jsonl.gz}
    docs:
      id: qid
      question: question
      context: passage
      fixed_choices: [yes, no, maybe]
      gold: answer
      gold_format: text
    metrics: [acc, acc_norm]
"""

EXAM = """
    name: board_exam
    family: medical_qa
    type: multiple_choice
    data: {path: exam/board.csv}
    docs:
      question: stem
      choices: [A, B, C, D, E]   # a 4-option row leaves E empty
      gold: key
      gold_format: letter
"""

TWO_CHOICE = """
    name: everyday_physics
    family: general
    type: multiple_choice
    data: {path: general/physics.jsonl}
    docs:
      question: goal
      choices: [sol1, sol2]
      gold: label
    doc_to_text: "Goal: {{ question }}\\nSolution:"
    metrics: [acc]
"""

NER = """
    include: _ner_base.yaml
    name: ner_drugs
    description: our notes, drug mentions
    data: {path: ner/drugs/test.tsv, format: conll}
"""


@pytest.fixture()
def user_data(tmp_path) -> Path:
    root = tmp_path / "data"
    jsonl(root / "clinic/yesno.jsonl.gz", [
        {"qid": "q1", "question": "Does aspirin thin blood?", "passage": "Aspirin inhibits platelets.", "answer": "yes"},
        {"qid": "q2", "question": "Is water toxic?", "passage": "Water is essential.", "answer": "No"},
        {"qid": "q3", "question": "Will it rain?", "passage": "Forecasts vary.", "answer": "maybe"}], gz=True)
    write(root / "exam/board.csv", """
        stem,A,B,C,D,E,key
        Which organ pumps blood?,Liver,Heart,Lung,Kidney,Skin,B
        "Which vitamin is made in skin, with sunlight?",A,C,D,K,,C
    """)
    jsonl(root / "general/physics.jsonl", [{"goal": "Open a jar", "sol1": "Twist the lid", "sol2": "Eat the lid", "label": 0},
                                          {"goal": "Dry hair", "sol1": "Use water", "sol2": "Use a towel", "label": 1}])
    write(root / "ner/drugs/test.tsv", "Take\tO\naspirin\tB-Drug\ndaily\tO\n\nIbuprofen\tB-Drug\nsodium\tI-Drug\nhelps\tO\n")
    return root


@pytest.fixture()
def user_suites(tmp_path) -> Path:
    folder = tmp_path / "my_suites"
    for name, text in (("clinic_yesno", YESNO), ("board_exam", EXAM), ("everyday_physics", TWO_CHOICE), ("ner_drugs", NER)):
        write(folder / f"{name}.yaml", text)
    return folder


def test_the_four_examples_read_their_documents(user_data, user_suites):
    yesno = load_suite(str(user_suites / "clinic_yesno.yaml")).docs(user_data)
    assert [(d["id"], d["choices"], d["gold"]) for d in yesno] == [
        ("q1", ["yes", "no", "maybe"], 0), ("q2", ["yes", "no", "maybe"], 1), ("q3", ["yes", "no", "maybe"], 2)]
    suite = load_suite(str(user_suites / "clinic_yesno.yaml"))
    assert suite.prompt(yesno[0]) == "Aspirin inhibits platelets.\nQuestion: Does aspirin thin blood?\nAnswer:"
    exam = load_suite(str(user_suites / "board_exam.yaml")).docs(user_data)
    assert [len(d["choices"]) for d in exam] == [5, 4] and [d["gold"] for d in exam] == [1, 2]
    assert exam[1]["question"] == "Which vitamin is made in skin, with sunlight?" and exam[0]["id"] == "board.csv:2"
    physics = load_suite(str(user_suites / "everyday_physics.yaml"))
    docs = physics.docs(user_data)
    assert physics.prompt(docs[1]) == "Goal: Dry hair\nSolution:" and docs[1]["gold"] == 1
    ner = load_suite(str(user_suites / "ner_drugs.yaml"))
    docs = ner.docs(user_data)
    assert ner.type.labels(docs) == ["O", "B-Drug", "I-Drug"] and len(docs) == 2


def test_the_four_examples_score_through_medtune_eval(capsys, tmp_path, user_data, user_suites, tiny_causal,
                                                      tiny_encoder):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    labels = ["O", "B-Drug", "I-Drug"]
    torch.manual_seed(0)
    tagger = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder, num_labels=3, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    tagger.save_pretrained(tmp_path / "tagger")
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(tmp_path / "tagger")
    db = tmp_path / "r.duckdb"
    common = ["--db", str(db), "--data-root", str(user_data)]
    code, out, err = run_cli(capsys, "eval", "-v", str(tiny_causal), "--name", "tiny", "--suite", str(user_suites / "clinic_yesno.yaml"),
                             "--suites-dir", str(user_suites), "-s", "board_exam", "-s", "everyday_physics", *common)
    assert code == 0, err
    code, out, err = run_cli(capsys, "eval", "-v", str(tmp_path / "tagger"), "--name", "tagger", "-s",
                             str(user_suites / "ner_drugs.yaml"), *common)
    assert code == 0, err
    table = results_table(Store(db))
    got = {(r.suite, r.metric): r.n_samples for r in table.itertuples()}
    assert got[("clinic_yesno", "acc")] == 3 and got[("board_exam", "acc")] == 2
    assert got[("everyday_physics", "acc")] == 2 and got[("ner_drugs", "f1")] == 2


def test_suites_lists_user_folders_with_their_source(capsys, tmp_path, user_suites, monkeypatch):
    other = write(tmp_path / "more/extra_exam.yaml", EXAM.replace("board_exam", "extra_exam"))
    monkeypatch.setenv(suites.ENV_DIRS, str(other.parent))
    code, out, err = run_cli(capsys, "suites", "--suites-dir", str(user_suites), "--format", "json")
    assert code == 0, err
    rows = {r["suite"]: r["source"] for r in json.loads(out)}
    assert rows["medqa_usmle"] == "shipped" and rows["clinic_yesno"] == str(user_suites)
    assert rows["extra_exam"] == str(other.parent)


def test_suites_dir_is_an_option_of_every_command(capsys, user_suites):
    code, out, err = run_cli(capsys, "--suites-dir", str(user_suites), "suites", "--format", "json")
    assert code == 0, err
    assert "board_exam" in {r["suite"] for r in json.loads(out)}
    code, out, err = run_cli(capsys, "--suites-dir", str(user_suites / "nope"), "suites")
    assert code == 2 and "--suites-dir" in err and "not a folder" in err


def test_a_folder_names_its_suites_and_families_include_them(user_suites):
    assert sorted(resolve_suite_names([str(user_suites)])) == ["board_exam", "clinic_yesno", "everyday_physics", "ner_drugs"]
    assert {"clinic_yesno", "board_exam", "medqa_usmle"} <= set(resolve_suite_names(["medical_qa"]))
    assert suite_sources()["clinic_yesno"].source == str(user_suites)


def test_a_name_clash_with_a_shipped_suite_names_both_files(tmp_path, capsys):
    clash = write(tmp_path / "s/mine.yaml", EXAM.replace("board_exam", "medqa_usmle"))
    with pytest.raises(ConfigError, match=r"suite 'medqa_usmle' is defined twice: .*qa/medqa_usmle.yaml .*mine.yaml"):
        resolve_suite_names([str(clash)])
    code, out, err = run_cli(capsys, "suites", "--suites-dir", str(clash.parent))
    assert code == 2 and "defined twice" in err and "mine.yaml" in err


def test_include_finds_a_base_beside_the_file_then_a_shipped_one(tmp_path, user_data):
    write(tmp_path / "s/_ours.yaml", "family: ours\ntype: multiple_choice\nmetrics: [acc]\n")
    write(tmp_path / "s/a.yaml", "include: _ours.yaml\nname: a\ndata: {path: general/physics.jsonl}\n"
                                 "docs: {question: goal, choices: [sol1, sol2], gold: label}\n")
    assert load_suite(str(tmp_path / "s/a.yaml")).spec.family == "ours"
    write(tmp_path / "s/b.yaml", "include: _mc_base.yaml\nname: b\ndata: {path: general/physics.jsonl}\n"
                                 "docs: {question: goal, choices: [sol1, sol2], gold: label}\n")
    b = load_suite(str(tmp_path / "s/b.yaml"))
    assert b.spec.family == "medical_qa" and "Question: Open a jar" in b.prompt(b.docs(user_data)[0])
    write(tmp_path / "s/c.yaml", "include: _nope.yaml\nname: c\n")
    with pytest.raises(ConfigError, match=r"c.yaml:1: field 'include' names _nope.yaml, which does not exist in"):
        load_suite(str(tmp_path / "s/c.yaml"))


def test_process_docs_in_a_py_beside_the_yaml_and_its_version(tmp_path, user_data):
    helper = write(tmp_path / "s/my_utils.py", """
        def records_to_docs(root, spec, options):
            return [{"id": str(i), "question": q, "choices": ["a", "b"], "gold": 0} for i, q in enumerate(["x", "y"])]
    """)
    path = write(tmp_path / "s/custom.yaml", """
        name: custom
        family: ours
        type: multiple_choice
        data: {path: unused.jsonl}
        process_docs: my_utils.py:records_to_docs
        doc_to_text: "Q: {{ question }}"
    """)
    suite = load_suite(str(path))
    assert [d["question"] for d in suite.docs(user_data)] == ["x", "y"]
    helper.write_text(helper.read_text().replace('"x"', '"z"'))
    changed = load_suite(str(path))
    assert changed.version != suite.version and changed.docs(user_data)[0]["question"] == "z"


@pytest.mark.parametrize("body,message", [
    ("def records_to_docs(:\n", r"my_utils.py:1: invalid Python"),
    ("raise RuntimeError('boom')\n", r"my_utils.py cannot be imported \(RuntimeError: boom\)"),
    ("x = 1\n", r"has no function 'records_to_docs'"),
    (None, r"my_utils.py does not exist"),
])
def test_an_unreadable_py_is_one_line(tmp_path, body, message):
    if body is not None:
        (tmp_path / "my_utils.py").write_text(body)
    write(tmp_path / "custom.yaml", """
        name: custom
        family: ours
        type: multiple_choice
        data: {path: unused.jsonl}
        process_docs: my_utils.py:records_to_docs
    """)
    with pytest.raises(ConfigError, match=r"custom.yaml:5: field 'process_docs' names my_utils.py:records_to_docs: .*" + message):
        load_suite(str(tmp_path / "custom.yaml"))


def test_absolute_data_paths_and_a_data_root_relative_one(tmp_path, user_data):
    rows = jsonl(tmp_path / "elsewhere/x.jsonl", [{"goal": "g", "sol1": "a", "sol2": "b", "label": 1}])
    path = write(tmp_path / "abs.yaml", TWO_CHOICE.replace("general/physics.jsonl", str(rows)).replace("everyday_physics", "abs"))
    assert load_suite(str(path)).docs(user_data)[0]["gold"] == 1


# -- the mapping: formats, nested JSON, filters ---------------------------------------------------

def _mc(data: str, docs: str, extra: str = "") -> str:
    return f"name: t\nfamily: x\ntype: multiple_choice\ndata: {data}\ndocs: {docs}\n{extra}"


def test_nested_json_records_a_filter_and_a_jinja_field(tmp_path):
    doc = {"meta": {"v": 1}, "data": {"items": [
        {"id": 7, "type": "single", "q": "Q1", "opts": {"A": "a1", "B": "b1"}, "ans": "B", "topic": "cardio"},
        {"id": 8, "type": "multi", "q": "Q2", "opts": {"A": "a2", "B": "b2"}, "ans": "A", "topic": "neuro"},
        {"id": 9, "type": "single", "q": "Q3", "opts": {"A": "a3", "B": "b3"}, "ans": "A", "topic": "renal"}]}}
    (tmp_path / "exam.json").write_text(json.dumps(doc, indent=2))
    write(tmp_path / "t.yaml", _mc("{path: exam.json, records: data.items, where: {type: single}}",
                                   "{id: id, question: '[{{ topic }}] {{ q }}', choices: opts, gold: ans, gold_format: letter}"))
    docs = load_suite(str(tmp_path / "t.yaml")).docs(tmp_path)
    assert [(d["id"], d["question"], d["choices"], d["gold"]) for d in docs] == [
        ("7", "[cardio] Q1", ["a1", "b1"], 1), ("9", "[renal] Q3", ["a3", "b3"], 0)]


def test_tsv_and_parquet_records(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "x.tsv").write_text("q\ta\tb\tgold\nQ\tyes\tno\t2\n")
    write(tmp_path / "t.yaml", _mc("{path: x.tsv}", "{question: q, choices: [a, b], gold: gold, gold_format: one_based}"))
    assert load_suite(str(tmp_path / "t.yaml")).docs(tmp_path)[0]["gold"] == 1
    pq.write_table(pa.table({"q": ["Q1", "Q2"], "choices": [["x", "y"], ["u", "v"]], "label": [1, 0]}), tmp_path / "x.parquet")
    write(tmp_path / "t.yaml", _mc("{path: x.parquet}", "{question: q, choices: choices, gold: label}"))
    assert [d["gold"] for d in load_suite(str(tmp_path / "t.yaml")).docs(tmp_path)] == [1, 0]


# -- bad input: one line, exit 2, nothing written ------------------------------------------------

NESTED = {"data": {"items": [{"q": "Q1", "a": "x", "b": "y", "gold": 0}, {"q": "Q2", "a": "x", "gold": 1}]}}


@pytest.mark.parametrize("data,docs,message", [
    ("{path: x.jsonl}", "{question: q, choices: [a, b]}", r"x.jsonl:3: field 'b' is missing"),
    ("{path: x.json, records: data.items}", "{question: q, choices: [a, b], gold: gold}", r"x.json:10: field 'b' is missing"),
    ("{path: x.jsonl}", "{question: '{{ q }} {{ stem }}', choices: [a, b], gold: gold}", r"x.jsonl:1: the template of 'question' uses 'stem' is undefined"),
    ("{path: x.jsonl, where: {kind: single}}", "{question: q, choices: [a, b], gold: gold}", r"x.jsonl: data.where \{'kind': 'single'\} keeps none of the 3 records"),
    ("{path: x.jsonl}", "{question: q, fixed_choices: [p, q], gold: gold}", r"x.jsonl:2: field 'gold' is 5, expected 0..1"),
    ("{path: x.jsonl}", "{question: q, choices: [a, b], gold: q, gold_format: letter}", r"x.jsonl:1: field 'q' is 'Q1', expected one of A, B"),
    ("{path: x.jsonl}", "{question: q, choices: [a, b], gold: q, gold_format: text}", r"x.jsonl:1: field 'q' is 'Q1', not one of the options: x, y"),
    ("{path: x.json, records: data.things}", "{question: q, choices: [a, b], gold: gold}", r"x.json: data.records 'data.things': no key 'data.things'"),
])
def test_bad_mappings_name_the_file_line_and_field(tmp_path, data, docs, message):
    jsonl(tmp_path / "x.jsonl", [{"q": "Q1", "a": "x", "b": "y", "gold": 0}, {"q": "Q2", "a": "x", "b": "y", "gold": 5},
                                 {"q": "Q3", "a": "x", "gold": 1}])
    (tmp_path / "x.json").write_text(json.dumps(NESTED, indent=2))
    write(tmp_path / "t.yaml", _mc(data, docs))
    with pytest.raises(DataError, match=message):
        load_suite(str(tmp_path / "t.yaml")).docs(tmp_path)


def test_bad_input_on_the_cli_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, tiny_causal):
    jsonl(tmp_path / "x.jsonl", [{"q": "Q1", "a": "x"}])
    write(tmp_path / "t.yaml", _mc("{path: x.jsonl}", "{question: q, choices: [a, b], gold: gold}"))
    db = tmp_path / "r.duckdb"
    code, out, err = run_cli(capsys, "eval", "-v", str(tiny_causal), "-s", str(tmp_path / "t.yaml"),
                             "--db", str(db), "--data-root", str(tmp_path))
    assert code == 2 and "x.jsonl:1: field 'b' is missing" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not db.exists()
    code, out, err = run_cli(capsys, "eval", "-v", str(tiny_causal), "-s", str(tmp_path / "nope.yaml"),
                             "--db", str(db), "--data-root", str(tmp_path))
    assert code == 2 and "no such suite file" in err and not db.exists()


def test_a_suite_needs_process_docs_or_a_mapping(tmp_path):
    write(tmp_path / "t.yaml", "name: t\nfamily: x\ntype: multiple_choice\ndata: {path: x.jsonl}\n")
    with pytest.raises(ConfigError, match=r"t.yaml: field 'process_docs' is required \(or a docs: mapping"):
        load_suite(str(tmp_path / "t.yaml"))
    write(tmp_path / "t.yaml", _mc("{path: x.jsonl}", "{question: q, choice: [a]}"))
    with pytest.raises(ConfigError, match=r"t.yaml:5: field 'docs.choice' is not a known field"):
        load_suite(str(tmp_path / "t.yaml"))


def test_the_readme_examples_are_these_suites(tmp_path, user_data):
    """The README's "Add your own eval set" YAML blocks load and read the test data as the tests' suites do."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Add your own eval set", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n# my_suites/(\w+)\.yaml\n(.*?)```", section, flags=re.S)
    assert [name for name, _ in blocks] == ["clinic_yesno", "board_exam", "everyday_physics", "ner_drugs"]
    for name, body in blocks:
        mine = load_suite(str(write(tmp_path / "readme" / f"{name}.yaml", body))).docs(user_data)
        ours = load_suite(str(write(tmp_path / "tests" / f"{name}.yaml", globals()[
            {"clinic_yesno": "YESNO", "board_exam": "EXAM", "everyday_physics": "TWO_CHOICE", "ner_drugs": "NER"}[name]]))).docs(user_data)
        assert mine == ours, name
