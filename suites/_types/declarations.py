"""Looking up a metric's declaration by suite type (``SuiteType.metrics``) or, for a suite whose type is
unknown (a suite the DB knows only by its rows), by the metric's name among every registered type."""

from __future__ import annotations

from harness.metrics import MetricDef, Metrics, direction
from suites._types import TYPES, get_type


def declared(suite_type: str | None) -> Metrics:
    """The type's declaration; an empty one for an unknown or missing type."""
    cls = get_type(suite_type) if suite_type else None
    return getattr(cls, "metrics", None) or Metrics()


def metric_def(metric: str, suite_type: str | None = None) -> MetricDef | None:
    """The declaration of ``metric``: the suite type's, else the first registered type that declares it."""
    found = declared(suite_type).get(metric)
    if found is not None:
        return found
    for name in TYPES.names():
        if name != suite_type:
            found = declared(name).get(metric)
            if found is not None:
                return found
    return None


def higher_is_better(metric: str, suite_type: str | None = None, stored=None) -> bool:
    """The stored direction of a metric row when there is one, else the declaration's (True if none)."""
    return direction(stored, metric_def(metric, suite_type))
