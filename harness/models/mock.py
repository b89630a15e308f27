"""The ``mock`` backend: deterministic pseudo-answers to every request kind, with no model files.

For tests, demos and trying the CLI (``medtune eval --variant anything --backend mock --suite
medqa_usmle --limit 5``). Each answer is derived from a SHA-256 of the variant name and the
request, so the same variant gives the same scores in every process, and different variants
differ. The numbers mean nothing about any model.

It needs no resolution: any variant name is accepted as is (``resolve_ref``), and its runs are
recorded under the location ``mock:<name>``, never mixed with a real model's cached runs.
"""

from __future__ import annotations

import hashlib
import struct

from harness.contract import KINDS, LoglikelihoodResult, ModelInfo, Request, RollingResult, TokenLogprobs

_WORDS = ("yes", "no", "maybe", "A", "B", "C", "D", "the", "patient", "dose")


class MockLM:
    KINDS = KINDS
    model_kinds = ("causal", "encoder")  # answers suites of either kind

    @classmethod
    def resolve_ref(cls, spec: str, name: str | None = None):
        """Any name is a mock model: nothing to find on disk, no DB or hub lookup."""
        from harness.models.registry import ModelRef

        return ModelRef(name or spec, f"mock:{spec}", "causal", meta={"backend": "mock"})

    def __init__(self, ref, device: str = "auto", dtype: str = "auto", batch_size: int | str = "auto", **kwargs):
        self.seed = ref.location
        self.device = "cpu"
        self.batch_size = 8 if batch_size == "auto" else max(1, int(batch_size))
        self.info = ModelInfo(name=ref.name, path=ref.location, kind="causal", dtype="none", device="cpu", n_params=0,
                              extra={"backend": "mock", "batch_size": self.batch_size})

    def supports(self, kind: str) -> bool:
        return kind in self.KINDS

    # -- deterministic pseudo-randomness ---------------------------------------------------------
    def _unit(self, *parts) -> float:
        """A number in [0, 1) from the variant and the request's content."""
        digest = hashlib.sha256(repr((self.seed, *parts)).encode()).digest()
        return struct.unpack(">Q", digest[:8])[0] / 2**64

    @staticmethod
    def _n_tokens(text: str) -> int:
        return max(1, len(text.split()))

    def _done(self, progress, n):
        if progress:
            progress(n)

    # -- the contract ---------------------------------------------------------------------------
    def loglikelihood(self, requests: list[Request], progress=None) -> list[LoglikelihoodResult]:
        out = []
        for r in requests:
            context, continuation = r.args
            n = self._n_tokens(continuation)
            u = self._unit("ll", context, continuation)
            out.append(LoglikelihoodResult(-n * (0.2 + 4.0 * u), u < 0.25, n))
        self._done(progress, len(requests))
        return out

    def loglikelihood_rolling(self, requests: list[Request], progress=None) -> list[RollingResult]:
        out = []
        for r in requests:
            n = self._n_tokens(r.args[0])
            out.append(RollingResult(-n * (1.0 + 3.0 * self._unit("rolling", r.args[0])), n))
        self._done(progress, len(requests))
        return out

    def generate_until(self, requests: list[Request], progress=None) -> list[str]:
        out = []
        for r in requests:
            prompt, _until, max_new = r.args
            k = 1 + int(self._unit("gen-len", prompt) * min(4, max(1, max_new)))
            out.append(" ".join(_WORDS[int(self._unit("gen", prompt, i) * len(_WORDS))] for i in range(k)))
        self._done(progress, len(requests))
        return out

    def token_labels(self, requests: list[Request], progress=None) -> list[list[str]]:
        # "O" is in every IOB label set, so a mock never predicts a label the data lacks
        out = [["O"] * len(r.args[0]) for r in requests]
        self._done(progress, len(requests))
        return out

    def token_logprobs(self, requests: list[Request], progress=None) -> list[TokenLogprobs]:
        import numpy as np

        out = []
        for r in requests:
            text, max_tokens = r.args
            words = text.split()[:max_tokens]
            lp = np.array([-(0.1 + 6.0 * self._unit("tok", text, i, w)) for i, w in enumerate(words)], dtype=float)
            mean = np.array([-(3.0 + self._unit("mu", text, i)) for i in range(len(words))], dtype=float)
            std = np.array([0.5 + self._unit("sd", text, i) for i in range(len(words))], dtype=float)
            out.append(TokenLogprobs(lp, mean, std))
        self._done(progress, len(requests))
        return out
