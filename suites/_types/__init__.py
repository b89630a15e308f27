"""Suite types: how a document becomes requests, and responses become scores.

Registered as "module:Class" strings and imported on first use.
"""

from __future__ import annotations

import importlib

TYPES: dict[str, str] = {
    "multiple_choice": "suites._types.multiple_choice:MultipleChoice",
    "ner": "suites._types.ner:NER",
    "perplexity": "suites._types.perplexity:Perplexity",
    "last_word": "suites._types.last_word:LastWord",
}


def get_type(name: str):
    target = TYPES.get(name)
    if target is None:
        return None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)
