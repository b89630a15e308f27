"""Planted contamination, for the benchmark and the tests: suite items copied verbatim or lightly edited
into clean training text, so recall, ranking and false positives can be measured on known answers."""

from __future__ import annotations

import random

from harness.corpus import Document


def light_edit(text: str, rng: random.Random, rate: float = 0.08) -> str:
    """Drop about ``rate / 2`` of the words and replace as many (with "patients")."""
    out = []
    for w in text.split():
        r = rng.random()
        if r < rate / 2:
            continue
        out.append("patients" if r < rate else w)
    return " ".join(out)


def plant(clean: list[Document], items, verbatim: list[int], edited: list[int], rng: random.Random) -> list[Document]:
    """``clean`` plus the ``verbatim`` items as they are and the ``edited`` ones lightly edited, shuffled;
    sources ``verbatim:i`` / ``edited:i`` (i: the item's index)."""
    docs = list(clean)
    docs += [Document(f"verbatim:{i}", items[i].text) for i in verbatim]
    docs += [Document(f"edited:{i}", light_edit(items[i].text, rng)) for i in edited]
    rng.shuffle(docs)
    return docs
