"""Suite types: how a document becomes requests, and responses become scores.

Registered in one lazy ``harness.registry.Registry`` ("module:Class" strings imported on first use).
"""

from __future__ import annotations

from harness.registry import Registry

TYPES = Registry("suite type", {
    "multiple_choice": "suites._types.multiple_choice:MultipleChoice",
    "ner": "suites._types.ner:NER",
    "perplexity": "suites._types.perplexity:Perplexity",
    "last_word": "suites._types.last_word:LastWord",
    "generative": "suites._types.generative:Generative",
    "rubric": "suites._types.rubric:Rubric",
})


def get_type(name: str):
    """The suite type class, or None for an unknown name (the suite loader names the field)."""
    return TYPES.get(name) if name in TYPES else None
