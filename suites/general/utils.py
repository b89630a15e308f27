"""Record -> document functions for the general-domain (forgetting) suites, as published
(llm-foundry local_data jsonl, HellaSwag jsonl, WikiText-2 raw)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import DataError
from suites._data import read_jsonl, read_text, require, require_choices, require_index, require_text, resolve_data_file


def _records(root: Path, spec):
    path = resolve_data_file(root, spec.data.path, spec.name)
    return path, read_jsonl(path)


def query_choices(root: Path, spec, options: dict) -> list[dict]:
    """ARC, PIQA, BoolQ: {query, choices, gold}."""
    path, rows = _records(root, spec)
    docs = []
    for lineno, rec in rows:
        choices = require_choices(require(rec, "choices", path, lineno, list), "choices", path, lineno)
        gold = require_index(rec, "gold", path, lineno, len(choices))
        docs.append({"id": f"L{lineno}", "query": require_text(rec, "query", path, lineno).strip(),
                     "choices": choices, "gold": gold})
    return docs


def hellaswag(root: Path, spec, options: dict) -> list[dict]:
    path, rows = _records(root, spec)
    docs = []
    for lineno, rec in rows:
        endings = require_choices(require(rec, "endings", path, lineno, list), "endings", path, lineno)
        label = require_index(rec, "label", path, lineno, len(endings))
        docs.append({"id": f"L{lineno}", "ctx": _hellaswag_clean(require_text(rec, "ctx", path, lineno)),
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
        contexts = require_choices(require(rec, "context_options", path, lineno, list), "context_options", path, lineno)
        docs.append({"id": f"L{lineno}", "contexts": contexts,
                     "continuation": require_text(rec, "continuation", path, lineno),
                     "choices": [c.rsplit(" ", 1)[-1] for c in contexts],
                     "gold": require_index(rec, "gold", path, lineno, len(contexts))})
    return docs


def lambada(root: Path, spec, options: dict) -> list[dict]:
    path, rows = _records(root, spec)
    return [{"id": f"L{lineno}", "context": require(rec, "context", path, lineno, str),
             "target": require_text(rec, "continuation", path, lineno)} for lineno, rec in rows]


_TITLE = re.compile(r"^ = [^=].*? = \s*$", flags=re.M)


def wikitext_documents(root: Path, spec, options: dict) -> list[dict]:
    """The raw test file split into its articles (62 for WikiText-2 test, as lm-eval)."""
    from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer

    path = resolve_data_file(root, spec.data.path, spec.name)
    raw = read_text(path).replace("\r\n", "\n")
    starts = [m.start() for m in _TITLE.finditer(raw)]
    if not starts:
        raise DataError(path, None, "no ' = Title = ' article headings found; is this WikiText raw text?")
    docs = []
    for i, start in enumerate(starts):
        page = raw[start: starts[i + 1] if i + 1 < len(starts) else len(raw)]
        title = page.splitlines()[0].strip(" =")
        docs.append({"id": title, "page": page, "text": wikitext_detokenizer({"page": page})})
    return docs
