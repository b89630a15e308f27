"""Fake backends implementing the harness model contract, for robustness tests.

Both pick one option per question from a hash of the question text:
- ``FragileLM`` hashes the raw text, so casing or punctuation changes the answer;
- ``StableLM`` hashes only the lower-cased alphanumerics, so they do not.
"""

from __future__ import annotations

import re
import zlib

from harness.contract import LoglikelihoodResult, ModelInfo


class _HashLM:
    def __init__(self, name: str, normalise):
        self.info = ModelInfo(name=name, path="", kind="causal", dtype="float32", device="cpu", n_params=0)
        self.normalise = normalise
        self.calls = 0

    def supports(self, kind: str) -> bool:
        return kind == "loglikelihood"

    def loglikelihood(self, requests, progress=None):
        self.calls += len(requests)
        out = []
        for req in requests:
            context, _ = req.args
            question = context.split("Question:")[-1]
            chosen = zlib.crc32(self.normalise(question).encode()) % 4
            out.append(LoglikelihoodResult(-1.0 if req.index == chosen else -3.0, req.index == chosen, 1))
        if progress:
            progress(len(requests))
        return out


def FragileLM():
    return _HashLM("fragile", lambda q: q)


def StableLM():
    return _HashLM("stable", lambda q: re.sub(r"[^a-z0-9]", "", q.lower()))


LEXICON = {"diabetes", "asthma", "anemia", "hepatitis"}
NER_LABELS = ["O", "B-Disease", "I-Disease"]


class _TaggerLM:
    """A token tagger: ``B-Disease`` where ``is_entity(word)`` holds, else ``O``."""

    def __init__(self, name: str, is_entity):
        self.info = ModelInfo(name=name, path="", kind="encoder", dtype="float32", device="cpu", n_params=0,
                              extra={"labels": NER_LABELS})
        self.is_entity = is_entity

    def supports(self, kind: str) -> bool:
        return kind == "token_labels"

    def token_labels(self, requests, progress=None):
        if progress:
            progress(len(requests))
        return [["B-Disease" if self.is_entity(w) else "O" for w in req.args[0]] for req in requests]


def FragileTagger():
    """Also tags any capitalised word that is not sentence-initial: casing changes its entities."""
    return _TaggerLM("fragile-ner", lambda w: w.lower() in LEXICON or (w[:1].isupper() and w != "The"))


def StableTagger():
    """Case-blind, and with one false positive ('clinic', a non-entity word the audit may perturb)."""
    return _TaggerLM("stable-ner", lambda w: w.lower().strip(".,;") in LEXICON | {"clinic"})
