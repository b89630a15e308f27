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
