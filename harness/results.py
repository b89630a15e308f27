"""The record types a run produces: one ``Sample`` per document, one ``Metric`` per metric."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Sample:
    doc_id: str
    target: Any
    prediction: Any
    correct: bool | None
    score: float | None  # the suite's primary per-sample score
    scores: dict[str, float] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)  # prompt, options, loglikelihoods... for drill-down

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Metric:
    name: str
    value: float
    ci_low: float | None
    ci_high: float | None
    n: int
    higher_is_better: bool = True  # from the suite type's declaration (harness.metrics)
