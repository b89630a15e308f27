"""Record -> document functions for the medical QA suites (the files as published).

Each returns documents with ``id``, ``question``, ``choices`` (option texts), ``gold`` (index)
and whatever else the suite's template uses. Errors name file:line and field.
"""

from __future__ import annotations

import ast
from pathlib import Path

from harness.errors import DataError
from suites._data import read_csv, read_json, read_jsonl, require, resolve_data_file

LETTERS = "ABCDEFGHIJ"


def medqa(root: Path, spec, options: dict) -> list[dict]:
    path = resolve_data_file(root, spec.data.path, spec.name)
    docs = []
    for lineno, rec in read_jsonl(path):
        question = require(rec, "question", path, lineno, str)
        opts = require(rec, "options", path, lineno, dict)
        letters = sorted(opts)
        answer = require(rec, "answer_idx", path, lineno, str)
        if answer not in opts:
            raise DataError(path, lineno, f"field 'answer_idx' is {answer!r}, not one of the options {letters}")
        docs.append({"id": f"L{lineno}", "question": question.strip(), "choices": [str(opts[k]).strip() for k in letters],
                     "gold": letters.index(answer), "meta": rec.get("meta_info")})
    return docs


def medmcqa(root: Path, spec, options: dict) -> list[dict]:
    path = resolve_data_file(root, spec.data.path, spec.name)
    keep_multi = bool(options.get("multi", False))
    docs = []
    for lineno, rec in read_jsonl(path):
        choice_type = rec.get("choice_type", "single")
        if choice_type == "multi" and not keep_multi:
            continue
        question = require(rec, "question", path, lineno, str)
        choices = [str(require(rec, k, path, lineno)).strip() for k in ("opa", "opb", "opc", "opd")]
        cop = require(rec, "cop", path, lineno, int)
        if not 1 <= cop <= 4:
            raise DataError(path, lineno, f"field 'cop' is {cop}, expected 1..4 (1-based correct option)")
        docs.append({"id": str(rec.get("id") or f"L{lineno}"), "question": question.strip(), "choices": choices,
                     "gold": cop - 1, "subject": rec.get("subject_name"), "choice_type": choice_type})
    return docs


PUBMEDQA_LABELS = ["yes", "no", "maybe"]


def pubmedqa(root: Path, spec, options: dict) -> list[dict]:
    """PQA-L: the 500 official test ids (``split=eval``), or the other 500 (``split=train``)."""
    path = resolve_data_file(root, spec.data.path, spec.name)
    ids_path = resolve_data_file(root, spec.data.extra["test_ids"], spec.name)
    records = read_json(path)
    test_ids = set(read_json(ids_path))
    want_test = options.get("split", "eval") in ("eval", "fewshot", "test")
    docs = []
    for pmid, rec in records.items():
        if (pmid in test_ids) != want_test:
            continue
        where = f"{path} (pmid {pmid})"
        for field in ("QUESTION", "CONTEXTS", "final_decision"):
            if field not in rec:
                raise DataError(where, None, f"field {field!r} is missing")
        decision = rec["final_decision"]
        if decision not in PUBMEDQA_LABELS:
            raise DataError(where, None, f"field 'final_decision' is {decision!r}, expected yes/no/maybe")
        contexts = rec["CONTEXTS"]
        if isinstance(contexts, str):  # some mirrors store the list as its Python repr
            contexts = ast.literal_eval(contexts)
        docs.append({"id": pmid, "question": rec["QUESTION"].strip(), "abstract": " ".join(c.strip() for c in contexts),
                     "choices": list(PUBMEDQA_LABELS), "gold": PUBMEDQA_LABELS.index(decision),
                     "long_answer": rec.get("LONG_ANSWER", "")})
    return docs


MMLU_SUBJECTS = ["anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                 "professional_medicine"]


def mmlu(root: Path, spec, options: dict) -> list[dict]:
    """The six medical MMLU subjects; few-shot examples come from each subject's dev file."""
    split = options.get("split", "eval")
    folder = spec.data.fewshot_path if split == "fewshot" else spec.data.path
    suffix = "dev" if split == "fewshot" else "test"
    subjects = options.get("subjects") or MMLU_SUBJECTS
    docs = []
    for subject in subjects:
        path = resolve_data_file(root, f"{folder}/{subject}_{suffix}.csv", spec.name)
        for lineno, row in read_csv(path, columns=6):
            question, *choices, answer = (cell.strip() for cell in row)
            if answer not in LETTERS[:4]:
                raise DataError(path, lineno, f"answer column is {answer!r}, expected A-D")
            docs.append({"id": f"{subject}:{lineno}" if suffix == "test" else f"{subject}:dev:{lineno}", "question": question, "choices": choices,
                         "gold": LETTERS.index(answer), "group": subject, "subject": subject.replace("_", " ")})
    return docs
