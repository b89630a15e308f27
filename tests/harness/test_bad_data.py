"""Broken data files and suite files, as users break them: each is one DataError/ConfigError
naming file:line and the field, never a traceback and never a silently wrong score."""

from __future__ import annotations

import json

import pytest

from harness.errors import ConfigError, DataError, MedtuneError
from suites import SUITES_DIR, load_suite
from tests.harness.clihelp import run_cli

MEDQA = {"question": "q", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "B"}
MEDMCQA = {"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 2, "choice_type": "single"}
PUBMED = {"QUESTION": "q?", "CONTEXTS": ["one.", "two."], "final_decision": "yes"}
ARC = {"query": "Question: q", "choices": ["a", "b"], "gold": 1}


def put(root, relative, content):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def pubmed_root(root, records, ids=None):
    put(root, "pubmedqa/ori_pqal.json", json.dumps(records, indent=4))
    put(root, "pubmedqa/test_ground_truth.json", json.dumps(ids if ids is not None else {k: "yes" for k in records}))
    return root


def docs(root, suite, **options):
    return load_suite(suite, options or None).docs(root)


# -- every reader: bytes that are not UTF-8 (even past --limit), a folder where a file belongs --

GOOD_FILES = {
    "medqa_usmle": ("medqa_usmle/test.jsonl", jsonl(MEDQA, MEDQA)),
    "medmcqa": ("medmcqa/dev.jsonl", jsonl(MEDMCQA, MEDMCQA)),
    "mmlu_medical": ("mmlu_medical/test/anatomy_test.csv", "q,a,b,c,d,A\nq2,a,b,c,d,B\n"),
    "arc_easy": ("general/arc_easy.jsonl", jsonl(ARC, ARC)),
    "ner_ncbi_disease": ("ner/ncbi_disease/test.tsv", "fever\tB-Disease\n\nrash\tO\n"),
    "wikitext2": ("general/wikitext2_test.raw", " = A = \n text \n = B = \n more \n"),
}
OPTIONS = {"mmlu_medical": {"subjects": ["anatomy"]}}


@pytest.mark.parametrize("suite", sorted(GOOD_FILES))
def test_invalid_utf8_past_the_limit_names_the_line(tmp_path, suite):
    relative, text = GOOD_FILES[suite]
    put(tmp_path, relative, text.encode() + b"caf\xe9\n")
    line = text.count("\n") + 1
    with pytest.raises(DataError, match=rf"{relative.rsplit('/', 1)[-1]}:{line}: not valid UTF-8 \(byte 0xe9"):
        load_suite(suite, OPTIONS.get(suite)).docs(tmp_path, limit=1)


def test_invalid_utf8_in_pubmedqa_names_the_line(tmp_path):
    pubmed_root(tmp_path, {"1": PUBMED})
    path = tmp_path / "pubmedqa/ori_pqal.json"
    path.write_bytes(path.read_bytes().replace(b"two.", b"tw\xff."))
    with pytest.raises(DataError, match=r"ori_pqal.json:6: not valid UTF-8"):
        docs(tmp_path, "pubmedqa")


@pytest.mark.parametrize("suite", sorted(GOOD_FILES) + ["pubmedqa"])
def test_a_folder_where_the_data_file_belongs(tmp_path, suite):
    relative = GOOD_FILES[suite][0] if suite in GOOD_FILES else "pubmedqa/ori_pqal.json"
    (tmp_path / relative).mkdir(parents=True)
    put(tmp_path, "pubmedqa/test_ground_truth.json", "{}")
    with pytest.raises(DataError, match=rf"{relative}: is a folder, expected a data file"):
        load_suite(suite, OPTIONS.get(suite)).docs(tmp_path)


# -- PubMedQA ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change,message", [
    ({"CONTEXTS": 7}, r"ori_pqal.json:10: field 'CONTEXTS' is a number, expected a list or a string"),
    ({"CONTEXTS": "not a list"}, r"ori_pqal.json:10: field 'CONTEXTS' is not a list of strings \(pmid 2\)"),
    ({"CONTEXTS": ["ok", 3]}, r"ori_pqal.json:10: field 'CONTEXTS' is not a list of strings"),
    ({"QUESTION": 42}, r"ori_pqal.json:10: field 'QUESTION' is a number, expected a string"),
    ({"final_decision": "Yes"}, r"ori_pqal.json:10: field 'final_decision' is 'Yes', expected yes/no/maybe"),
])
def test_pubmedqa_wrong_fields_name_the_record_line(tmp_path, change, message):
    # the broken record (pmid 2, from line 6) is outside the test ids: the whole file is checked
    pubmed_root(tmp_path, {"1": PUBMED, "2": {**PUBMED, **change}}, ids={"1": "yes"})
    with pytest.raises(DataError, match=message):
        docs(tmp_path, "pubmedqa")


def test_pubmedqa_python_repr_contexts_still_read(tmp_path):
    pubmed_root(tmp_path, {"1": {**PUBMED, "CONTEXTS": "['one.', 'two.']"}})
    assert docs(tmp_path, "pubmedqa")[0]["abstract"] == "one. two."


@pytest.mark.parametrize("records,ids,message", [
    ([PUBMED], None, r"ori_pqal.json:1: expected a JSON object \{id: record\}, found a list"),
    ({"1": ["not", "a record"]}, None, r"ori_pqal.json:2: pmid 1: expected a JSON object, found a list"),
    ({"1": PUBMED}, 5, r"test_ground_truth.json: expected a JSON object or list of pmids"),
])
def test_pubmedqa_wrong_shapes(tmp_path, records, ids, message):
    put(tmp_path, "pubmedqa/ori_pqal.json", json.dumps(records, indent=4))
    put(tmp_path, "pubmedqa/test_ground_truth.json", json.dumps({"1": "yes"} if ids is None else ids))
    with pytest.raises(DataError, match=message):
        docs(tmp_path, "pubmedqa")


def test_pubmedqa_duplicate_pmid(tmp_path):
    put(tmp_path, "pubmedqa/ori_pqal.json", '{"1": %s,\n"1": %s}' % (json.dumps(PUBMED), json.dumps(PUBMED)))
    put(tmp_path, "pubmedqa/test_ground_truth.json", '["1"]')
    with pytest.raises(DataError, match=r"ori_pqal.json:2: key '1' appears twice"):
        docs(tmp_path, "pubmedqa")


# -- MedMCQA, MMLU, MedQA ---------------------------------------------------------------------

@pytest.mark.parametrize("change,message", [
    ({"cop": True}, r"dev.jsonl:2: field 'cop' is a boolean, expected an integer"),
    ({"cop": 0}, r"dev.jsonl:2: field 'cop' is 0, expected 1..4"),
    ({"cop": "2"}, r"dev.jsonl:2: field 'cop' is a string, expected an integer"),
    ({"opc": None}, r"dev.jsonl:2: field 'opc' is missing"),
    ({"opd": ""}, r"dev.jsonl:2: field 'options.opd' is empty"),
    ({"choice_type": "mutli"}, r"dev.jsonl:2: field 'choice_type' is 'mutli', expected single or multi"),
])
def test_medmcqa_wrong_fields(tmp_path, change, message):
    put(tmp_path, "medmcqa/dev.jsonl", jsonl(MEDMCQA, {**MEDMCQA, **change}))
    with pytest.raises(DataError, match=message):
        docs(tmp_path, "medmcqa")


def test_medmcqa_multi_option_must_be_a_boolean(tmp_path):
    put(tmp_path, "medmcqa/dev.jsonl", jsonl(MEDMCQA))
    with pytest.raises(MedtuneError, match=r"option 'multi' is 'sure', expected true or false"):
        docs(tmp_path, "medmcqa", multi="sure")


@pytest.mark.parametrize("row,message", [
    ("q2,a,b,c,d,", r"anatomy_test.csv:2: answer column is '', expected A-D"),
    ("q2,a,b,c,d,BC", r"anatomy_test.csv:2: answer column is 'BC', expected A-D"),
    ("q2,a,b,c,d,b", r"anatomy_test.csv:2: answer column is 'b', expected A-D"),
    ("q2,a,,c,d,A", r"anatomy_test.csv:2: field 'options.B' is empty"),
    ('"q2,a,b,c,d,A', r"anatomy_test.csv:\d+: expected 6 columns, found 1"),
])
def test_mmlu_answer_must_be_one_of_a_to_d(tmp_path, row, message):
    put(tmp_path, "mmlu_medical/test/anatomy_test.csv", f"q,a,b,c,d,A\n{row}\n")
    with pytest.raises(DataError, match=message):
        docs(tmp_path, "mmlu_medical", subjects=["anatomy"])


def test_mmlu_subjects_option_as_a_comma_list(tmp_path):
    put(tmp_path, "mmlu_medical/test/anatomy_test.csv", "q,a,b,c,d,A\n")
    put(tmp_path, "mmlu_medical/test/virology_test.csv", "q,a,b,c,d,C\n")
    assert [d["group"] for d in docs(tmp_path, "mmlu_medical", subjects="anatomy, virology")] == ["anatomy", "virology"]


@pytest.mark.parametrize("change,message", [
    ({"options": {"A": "a"}, "answer_idx": "A"}, r"test.jsonl:2: field 'options' has 1 option\(s\), expected at least 2"),
    ({"options": {"A": "a", "B": None}}, r"test.jsonl:2: field 'options.B' is null, expected a string"),
    ({"options": {"A": "a", "B": 3}}, r"test.jsonl:2: field 'options.B' is a number, expected a string"),
    ({"options": ["a", "b"]}, r"test.jsonl:2: field 'options' is a list, expected an object"),
    ({"question": 5}, r"test.jsonl:2: field 'question' is a number, expected a string"),
    ({"question": "  "}, r"test.jsonl:2: field 'question' is empty"),
    ({"answer_idx": "E"}, r"test.jsonl:2: field 'answer_idx' is 'E', not one of the options"),
])
def test_medqa_wrong_fields(tmp_path, change, message):
    put(tmp_path, "medqa_usmle/test.jsonl", jsonl(MEDQA, {**MEDQA, **change}))
    with pytest.raises(DataError, match=message):
        docs(tmp_path, "medqa_usmle")


def test_a_jsonl_line_that_is_not_an_object(tmp_path):
    put(tmp_path, "medqa_usmle/test.jsonl", jsonl(MEDQA) + "[1, 2]\n")
    with pytest.raises(DataError, match=r"test.jsonl:2: expected a JSON object, found a list"):
        docs(tmp_path, "medqa_usmle")


# -- general-domain readers -------------------------------------------------------------------

@pytest.mark.parametrize("suite,relative,record,message", [
    ("arc_easy", "general/arc_easy.jsonl", {**ARC, "gold": True}, r"field 'gold' is a boolean"),
    ("arc_easy", "general/arc_easy.jsonl", {**ARC, "gold": 2}, r"field 'gold' is 2, expected 0..1"),
    ("arc_easy", "general/arc_easy.jsonl", {**ARC, "choices": ["a", None]}, r"field 'choices\[1\]' is null"),
    ("hellaswag", "general/hellaswag_val.jsonl", {"ctx": "c", "endings": ["a", "b"], "label": "x"},
     r"field 'label' is 'x', expected an integer 0..1"),
    ("hellaswag", "general/hellaswag_val.jsonl", {"ctx": "c", "endings": ["a", "b"], "label": 4},
     r"field 'label' is 4, expected 0..1"),
    ("winogrande", "general/winogrande.jsonl", {"context_options": ["a x", "b y"], "continuation": "z", "gold": 2},
     r"field 'gold' is 2, expected 0..1"),
    ("lambada", "general/lambada_openai.jsonl", {"context": "c", "continuation": ""}, r"field 'continuation' is empty"),
])
def test_general_readers_refuse_wrong_records(tmp_path, suite, relative, record, message):
    put(tmp_path, relative, jsonl(record))
    with pytest.raises(DataError, match=rf"{relative.rsplit('/', 1)[-1]}:1: {message}"):
        docs(tmp_path, suite)


def test_hellaswag_string_label_is_read(tmp_path):
    put(tmp_path, "general/hellaswag_val.jsonl", jsonl({"ctx": "c", "endings": ["a", "b"], "label": "1"}))
    assert docs(tmp_path, "hellaswag")[0]["gold"] == 1


def test_choice_style_option_must_be_text_or_letter():
    with pytest.raises(MedtuneError, match=r"option 'choice_style' is 'letters', expected text or letter"):
        load_suite("medqa_usmle", {"choice_style": "letters"})


def test_ner_columns_option_must_be_an_integer(tmp_path):
    put(tmp_path, "ner/ncbi_disease/test.tsv", "fever\tB-Disease\n")
    with pytest.raises(MedtuneError, match=r"option 'columns' is 'x', expected an integer >= 2"):
        docs(tmp_path, "ner_ncbi_disease", columns="x")


# -- suite files ------------------------------------------------------------------------------

SUITE = "name: s\nfamily: x\ntype: multiple_choice\nprocess_docs: qa.utils:medqa\ndata:\n  path: x.jsonl\n"


@pytest.mark.parametrize("text,message", [
    (SUITE + "name: t\n", r"s.yaml:7: invalid YAML \(duplicate key 'name' \(first on line 1\)\)"),
    (SUITE + "  formt: jsonl\n", r"s.yaml:7: field 'data.formt' is not a known field"),
    (SUITE + "num_fewshot: many\n", r"s.yaml:7: field 'num_fewshot': Input should be a valid integer"),
    (SUITE.replace("multiple_choice", "multiple_choise"), r"s.yaml:3: field 'type' is 'multiple_choise', not a known"),
    (SUITE.replace("qa.utils:medqa", "qa.utils:LETTERS"), r"s.yaml:4: field 'process_docs' names qa.utils:LETTERS, which is not a function"),
    (SUITE.replace("  path: x.jsonl\n", "  format: json\n"), r"s.yaml:6: field 'data.path' is required"),
    (SUITE + "include: [a, b]\n", r"s.yaml:7: field 'include' is \['a', 'b'\], expected a file name"),
    (SUITE + "include: nope.yaml\n", r"s.yaml:7: field 'include' names nope.yaml, which does not exist"),
    (SUITE + "include: s.yaml\n", r"s.yaml:7: field 'include' names s.yaml, which includes this file again"),
    ("- a list\n", r"s.yaml: a suite file must be a YAML mapping"),
    (b"name: caf\xe9\n", r"s.yaml:1: not valid UTF-8"),
])
def test_suite_file_errors_name_file_and_line(tmp_path, text, message):
    put(tmp_path, "s.yaml", text)
    with pytest.raises(ConfigError, match=message):
        load_suite(str(tmp_path / "s.yaml"))


def test_an_error_in_an_included_base_names_the_base(tmp_path):
    base = (SUITES_DIR / "qa" / "_mc_base.yaml").read_text()
    put(tmp_path, "_base.yaml", base + "target_delimter: ' '\n")
    put(tmp_path, "s.yaml", "include: _base.yaml\nname: s\ndata: {path: x}\nprocess_docs: qa.utils:medqa\n")
    line = base.count("\n") + 1
    with pytest.raises(ConfigError, match=rf"_base.yaml:{line}: field 'target_delimter' is not a known field"):
        load_suite(str(tmp_path / "s.yaml"))


def test_a_suite_file_that_is_a_folder(tmp_path):
    (tmp_path / "s.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"s.yaml: is a folder, expected a suite file"):
        load_suite(str(tmp_path / "s.yaml"))


# -- through the CLI: exit 2, one line, nothing written ---------------------------------------

def test_eval_refuses_invalid_utf8_past_the_limit(capsys, tiny_causal, tmp_path, db):
    put(tmp_path, "medqa_usmle/test.jsonl", jsonl(MEDQA, MEDQA).encode() + b'{"question": "\xff"}\n')
    code, out, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--limit", "1",
                             "--db", str(db), "--data-root", str(tmp_path))
    assert code == 2 and "test.jsonl:3: not valid UTF-8" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not db.exists()
