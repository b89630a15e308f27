"""Record -> document functions of the generative QA suites: the log-likelihood suites' documents,
plus what a worked few-shot answer needs.

- ``medmcqa_exp``: MedMCQA with each item's published explanation (``explanation``); the few-shot
  pool (``split=fewshot``) holds only items that have one.
- ``pubmedqa_train_shots``: PubMedQA's official test split, few-shot examples from the other 500
  PQA-L items (never from the test split).
"""

from __future__ import annotations

from pathlib import Path

from suites._data import read_jsonl, resolve_data_file
from suites.qa.utils import medmcqa, pubmedqa


def medmcqa_exp(root: Path, spec, options: dict) -> list[dict]:
    docs = medmcqa(root, spec, options)
    path = resolve_data_file(root, spec.data.path, spec.name)
    exp = {str(rec.get("id") or f"L{lineno}"): (rec.get("exp") or "").strip() for lineno, rec in read_jsonl(path)}
    for doc in docs:
        doc["explanation"] = exp.get(doc["id"], "")
    if options.get("split") == "fewshot":
        docs = [d for d in docs if d["explanation"]]
    return docs


def pubmedqa_train_shots(root: Path, spec, options: dict) -> list[dict]:
    split = "train" if options.get("split") == "fewshot" else options.get("split", "eval")
    return pubmedqa(root, spec, dict(options, split=split))
