"""Record -> document functions for the general-domain (forgetting) suites, as published
(llm-foundry local_data jsonl, HellaSwag jsonl, WikiText-2 raw)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import DataError
from suites._data import read_jsonl, require, resolve_data_file


def _records(root: Path, spec):
    path = resolve_data_file(root, spec.data.path, spec.name)
    return path, read_jsonl(path)


def query_choices(root: Path, spec, options: dict) -> list[dict]:
    """ARC, PIQA, BoolQ: {query, choices, gold}."""
    path, rows = _records(root, spec)
    docs = []
    for lineno, rec in rows:
        choices = require(rec, "choices", path, lineno, list)
        gold = require(rec, "gold", path, lineno, int)
        if not 0 <= gold < len(choices):
            raise DataError(path, lineno, f"field 'gold' is {gold}, outside the {len(choices)} choices")
        docs.append({"id": f"L{lineno}", "query": require(rec, "query", path, lineno, str).strip(),
                     "choices": [str(c) for c in choices], "gold": gold})
    return docs


def hellaswag(root: Path, spec, options: dict) -> list[dict]:
    path, rows = _records(root, spec)
    docs = []
    for lineno, rec in rows:
        endings = require(rec, "endings", path, lineno, list)
        label = int(require(rec, "label", path, lineno))
        docs.append({"id": f"L{lineno}", "ctx": _hellaswag_clean(require(rec, "ctx", path, lineno, str)),
                     "choices": [_hellaswag_clean(e) for e in endings], "gold": label})
    return docs


def _hellaswag_clean(text: str) -> str:
    """lm-eval's HellaSwag preprocessing (WikiHow artefacts removed)."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def winogrande(root: Path, spec, options: dict) -> list[dict]:
    """Partial scoring: the same continuation after each option's context."""
    path, rows = _records(root, spec)
    docs = []
    for lineno, rec in rows:
        contexts = require(rec, "context_options", path, lineno, list)
        docs.append({"id": f"L{lineno}", "contexts": [str(c) for c in contexts],
                     "continuation": require(rec, "continuation", path, lineno, str),
                     "choices": [str(c).rsplit(" ", 1)[-1] for c in contexts], "gold": int(require(rec, "gold", path, lineno))})
    return docs


def lambada(root: Path, spec, options: dict) -> list[dict]:
    path, rows = _records(root, spec)
    return [{"id": f"L{lineno}", "context": require(rec, "context", path, lineno, str),
             "target": require(rec, "continuation", path, lineno, str)} for lineno, rec in rows]


_TITLE = re.compile(r"^ = [^=].*? = \s*$", flags=re.M)


def wikitext_documents(root: Path, spec, options: dict) -> list[dict]:
    """The raw test file split into its articles (62 for WikiText-2 test, as lm-eval)."""
    from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer

    path = resolve_data_file(root, spec.data.path, spec.name)
    raw = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    starts = [m.start() for m in _TITLE.finditer(raw)]
    if not starts:
        raise DataError(path, None, "no ' = Title = ' article headings found; is this WikiText raw text?")
    docs = []
    for i, start in enumerate(starts):
        page = raw[start: starts[i + 1] if i + 1 < len(starts) else len(raw)]
        title = page.splitlines()[0].strip(" =")
        docs.append({"id": title, "page": page, "text": wikitext_detokenizer({"page": page})})
    return docs
