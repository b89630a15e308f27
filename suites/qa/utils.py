"""Record -> document functions for the medical QA suites (the files as published).

Each returns documents with ``id``, ``question``, ``choices`` (option texts), ``gold`` (index)
and whatever else the suite's template uses. Errors name file:line and field.
"""

from __future__ import annotations

import ast
from pathlib import Path

from harness.errors import DataError, MedtuneError
from suites._data import (json_type, read_csv, read_json, read_json_object, read_jsonl, require, require_choices,
                          require_text, resolve_data_file)

LETTERS = "ABCDEFGHIJ"


def medqa(root: Path, spec, options: dict) -> list[dict]:
    path = resolve_data_file(root, spec.data.path, spec.name)
    docs = []
    for lineno, rec in read_jsonl(path):
        question = require_text(rec, "question", path, lineno)
        opts = require(rec, "options", path, lineno, dict)
        letters = sorted(opts)
        answer = require(rec, "answer_idx", path, lineno, str)
        choices = [c.strip() for c in require_choices([opts[k] for k in letters], "options", path, lineno, names=letters)]
        if answer not in opts:
            raise DataError(path, lineno, f"field 'answer_idx' is {answer!r}, not one of the options {letters}")
        docs.append({"id": f"L{lineno}", "question": question.strip(), "choices": choices,
                     "gold": letters.index(answer), "meta": rec.get("meta_info")})
    return docs


def medmcqa(root: Path, spec, options: dict) -> list[dict]:
    path = resolve_data_file(root, spec.data.path, spec.name)
    keep_multi = options.get("multi", False)
    if not isinstance(keep_multi, bool):
        raise MedtuneError(f"suite {spec.name}: option 'multi' is {keep_multi!r}, expected true or false")
    docs, lines = [], {}
    for lineno, rec in read_jsonl(path):
        choice_type = rec.get("choice_type", "single")
        if choice_type not in ("single", "multi"):
            raise DataError(path, lineno, f"field 'choice_type' is {choice_type!r}, expected single or multi")
        if choice_type == "multi" and not keep_multi:
            continue
        question = require_text(rec, "question", path, lineno)
        fields = ("opa", "opb", "opc", "opd")
        choices = [c.strip() for c in require_choices([require(rec, k, path, lineno) for k in fields], "options", path,
                                                      lineno, names=list(fields))]
        cop = require(rec, "cop", path, lineno, int)
        if not 1 <= cop <= 4:
            raise DataError(path, lineno, f"field 'cop' is {cop}, expected 1..4 (1-based correct option)")
        doc_id = str(rec.get("id") or f"L{lineno}")
        if doc_id in lines:  # samples are stored and paired by id: two records with one id would overwrite
            raise DataError(path, lineno, f"id {doc_id!r} repeats the record at line {lines[doc_id]}")
        lines[doc_id] = lineno
        docs.append({"id": doc_id, "question": question.strip(), "choices": choices,
                     "gold": cop - 1, "subject": rec.get("subject_name"), "choice_type": choice_type})
    return docs


PUBMEDQA_LABELS = ["yes", "no", "maybe"]


def pubmedqa(root: Path, spec, options: dict) -> list[dict]:
    """PQA-L: the 500 official test ids (``split=eval``), or the other 500 (``split=train``)."""
    path = resolve_data_file(root, spec.data.path, spec.name)
    ids_path = resolve_data_file(root, spec.data.extra["test_ids"], spec.name)
    test_ids = read_json(ids_path)  # published as {pmid: label}; a list of pmids is read too
    if not isinstance(test_ids, (dict, list)) or not all(isinstance(i, str) for i in test_ids):
        raise DataError(ids_path, None, f"expected a JSON object or list of pmids (strings), found {json_type(test_ids)}")
    test_ids = set(test_ids)
    want_test = options.get("split", "eval") in ("eval", "fewshot", "test")
    docs, seen = [], set()
    for lineno, pmid, rec in read_json_object(path):
        if not isinstance(rec, dict):
            raise DataError(path, lineno, f"pmid {pmid}: expected a JSON object, found {json_type(rec)}")
        decision = require(rec, "final_decision", path, lineno, str)
        if decision not in PUBMEDQA_LABELS:
            raise DataError(path, lineno, f"field 'final_decision' is {decision!r}, expected yes/no/maybe (pmid {pmid})")
        question = require_text(rec, "QUESTION", path, lineno)
        contexts = _contexts(require(rec, "CONTEXTS", path, lineno, (list, str)))
        if contexts is None:
            raise DataError(path, lineno, f"field 'CONTEXTS' is not a list of strings (pmid {pmid})")
        seen.add(pmid)
        if (pmid in test_ids) != want_test:
            continue
        docs.append({"id": pmid, "question": question.strip(), "abstract": " ".join(c.strip() for c in contexts),
                     "choices": list(PUBMEDQA_LABELS), "gold": PUBMEDQA_LABELS.index(decision),
                     "long_answer": rec.get("LONG_ANSWER", "")})
    missing = sorted(test_ids - seen)
    if want_test and missing:  # scored as if complete, the run would silently cover fewer items than the split
        raise DataError(path, None, f"holds {len(test_ids) - len(missing)} of the {len(test_ids)} test ids that "
                                    f"{ids_path.name} names ({len(missing)} missing, e.g. {missing[0]}): the data holds "
                                    "fewer items than the suite's split")
    return docs


def _contexts(value):
    """The abstract's sections; some mirrors store the list as its Python repr (a string)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        return value
    return None


MMLU_SUBJECTS = ["anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                 "professional_medicine"]


def mmlu(root: Path, spec, options: dict) -> list[dict]:
    """The six medical MMLU subjects; few-shot examples come from each subject's dev file."""
    split = options.get("split", "eval")
    folder = spec.data.fewshot_path if split == "fewshot" else spec.data.path
    suffix = "dev" if split == "fewshot" else "test"
    subjects = options.get("subjects") or MMLU_SUBJECTS
    if isinstance(subjects, str):  # --option subjects=anatomy,college_medicine
        subjects = [s.strip() for s in subjects.split(",") if s.strip()]
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise MedtuneError(f"suite {spec.name}: option 'subjects' is {subjects!r}, expected a list of subject names")
    docs = []
    for subject in subjects:
        path = resolve_data_file(root, f"{folder}/{subject}_{suffix}.csv", spec.name)
        before = len(docs)
        for lineno, row in read_csv(path, columns=6):
            question, *choices, answer = (cell.strip() for cell in row)
            if not question:
                raise DataError(path, lineno, "the question column is empty")
            choices = require_choices(choices, "options", path, lineno, names=list(LETTERS[:4]))
            if answer not in ("A", "B", "C", "D"):
                raise DataError(path, lineno, f"answer column is {answer!r}, expected A-D")
            docs.append({"id": f"{subject}:{lineno}" if suffix == "test" else f"{subject}:dev:{lineno}", "question": question, "choices": choices,
                         "gold": LETTERS.index(answer), "group": subject, "subject": subject.replace("_", " ")})
        if len(docs) == before:  # an empty subject file would be scored as if the suite were complete
            raise DataError(path, None, f"holds no questions: subject {subject} of the suite's split has none "
                                        "(the data holds fewer items than the split names)")
    return docs
