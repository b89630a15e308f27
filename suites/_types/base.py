"""The interface every suite type implements (kept tiny: requests in, samples out)."""

from __future__ import annotations

from typing import Any

from harness.contract import Request
from harness.results import Metric, Sample
from harness.stats import bootstrap_ci


class SuiteType:
    #: request kinds this type emits (the backend must support them)
    request_kinds: tuple[str, ...] = ()
    #: model kinds that can answer (causal, encoder)
    model_kinds: tuple[str, ...] = ("causal",)

    def __init__(self, suite):
        self.suite = suite

    def requests(self, doc_index: int, doc: dict) -> list[Request]:
        raise NotImplementedError

    def score(self, doc: dict, responses: dict[str, list[Any]]) -> Sample:
        """``responses[kind]`` holds this document's responses, in request ``index`` order."""
        raise NotImplementedError

    def aggregate(self, samples: list[Sample], seed: int = 0) -> list[Metric]:
        """Default: each metric is the mean of the per-sample score of that name, with a bootstrap CI."""
        out = []
        for name in self.suite.spec.metrics:
            values = [s.scores[name] for s in samples if name in s.scores]
            if not values:
                continue
            point, low, high = bootstrap_ci(values, seed=seed)
            out.append(Metric(name, point, low, high, len(values)))
        return out
