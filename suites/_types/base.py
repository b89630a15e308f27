"""The interface every suite type implements (kept tiny: requests in, samples out), and its metrics."""

from __future__ import annotations

from typing import Any

from harness.contract import Request
from harness.metrics import Metrics, mean_of
from harness.results import Metric, Sample


class SuiteType:
    #: request kinds this type emits (the backend must support them)
    request_kinds: tuple[str, ...] = ()
    #: model kinds that can answer (causal, encoder)
    model_kinds: tuple[str, ...] = ("causal",)
    #: what each metric means: columns, corpus statistic, direction, paired test (harness.metrics)
    metrics: Metrics = Metrics()

    def __init__(self, suite):
        self.suite = suite

    def requests(self, doc_index: int, doc: dict) -> list[Request]:
        raise NotImplementedError

    def score(self, doc: dict, responses: dict[str, list[Any]]) -> Sample:
        """``responses[kind]`` holds this document's responses, in request ``index`` order."""
        raise NotImplementedError

    def metric(self, name: str):
        """The declaration of ``name``; a name the type does not declare is the mean of the per-sample
        score of that name."""
        return self.metrics.get(name) or mean_of(name)

    def metric_names(self, samples: list[Sample]) -> list[str]:
        """The metrics ``aggregate`` reports: the suite's ``metrics:`` list, then those the type always reports."""
        listed = list(self.suite.spec.metrics)
        return listed + [d.name for d in self.metrics if d.always and d.name not in listed]

    def aggregate(self, samples: list[Sample], seed: int = 0) -> list[Metric]:
        """Each metric's corpus value with a bootstrap CI over samples, as its declaration says."""
        items = [s.scores for s in samples]
        out = []
        for name in self.metric_names(samples):
            m = self.metric(name).measure(items, seed=seed)
            if m is not None:
                out.append(m)
        return out
