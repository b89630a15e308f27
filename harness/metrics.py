"""What a metric means, declared once: the per-sample columns it reads, its corpus statistic, its
direction and its paired test; and the generic machinery that uses a declaration.

Each suite type declares its metrics (``SuiteType.metrics``, a ``Metrics``); the suite's
``aggregate``, the gate (``max_drop``), the forgetting comparison, the robustness audit, the
dashboard and ``medtune results`` all read that one declaration, so a metric is never judged in
opposite directions by two of them. Raw statistics stay in ``harness.stats``.

The paired tests (candidate - baseline on the same items):

- ``MCNEMAR``: 0/1 per item (accuracy): McNemar on the discordant pairs;
- ``MEAN``: any other per-item score: paired bootstrap of the mean difference;
- ``CORPUS``: a function of summed columns (perplexity from log-likelihood and word counts, F1
  from tp/fp/fn): paired bootstrap of the corpus statistic, items resampled on both sides at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from harness.results import Metric
from harness.stats import PairedComparison, bootstrap_ci, mcnemar_test, paired_bootstrap, paired_statistic_diff

MCNEMAR, MEAN, CORPUS = "mcnemar", "bootstrap_mean", "bootstrap_corpus"
TESTS = (MCNEMAR, MEAN, CORPUS)


@dataclass(frozen=True)
class MetricDef:
    """One metric of a suite type.

    ``statistic(*columns, axis=-1)`` is the vectorised corpus statistic of the per-sample columns;
    ``None`` means the mean of the one column. ``per_label``: the type also reports
    ``<name>_<label>`` over the columns ``<column>_<label>`` (NER's ``f1_Disease`` from ``tp_Disease``...).
    ``test`` None: reported, never compared (e.g. a count of repaired tags in the data).
    ``always``: every suite of the type reports it, whatever the suite's ``metrics:`` list.
    """

    name: str
    columns: tuple[str, ...]
    statistic: Callable | None = None
    higher_is_better: bool = True
    test: str | None = MEAN
    per_label: bool = False
    always: bool = False

    def __post_init__(self):
        if self.test is not None and self.test not in TESTS:
            raise ValueError(f"metric {self.name}: test {self.test!r}, expected one of {', '.join(TESTS)}")
        if self.statistic is None and self.test is not None and len(self.columns) != 1:
            raise ValueError(f"metric {self.name}: a mean reads exactly one column (or give a statistic)")

    @property
    def corpus(self) -> bool:
        return self.statistic is not None

    def get_label(self, name: str) -> str | None:
        """The label of a per-label name (``f1_Disease`` -> ``Disease``), else None."""
        prefix = self.name + "_"
        return name[len(prefix):] if self.per_label and name.startswith(prefix) and len(name) > len(prefix) else None

    def for_label(self, label: str) -> MetricDef:
        return replace(self, name=f"{self.name}_{label}", columns=tuple(f"{c}_{label}" for c in self.columns),
                       per_label=False)

    # -- columns and values ------------------------------------------------------------------
    def has_columns(self, items: Sequence[Mapping]) -> bool:
        return bool(items) and bool(self.columns) and all(all(c in d for c in self.columns) for d in items)

    def arrays(self, items: Sequence[Mapping]) -> tuple[np.ndarray, ...]:
        return tuple(np.array([d[c] for d in items], dtype=float) for c in self.columns)

    def value(self, items: Sequence[Mapping]) -> float:
        """The corpus value (no CI)."""
        cols = self.arrays(items)
        return float(self.statistic(*cols, axis=-1)) if self.corpus else float(np.mean(cols[0]))

    def measure(self, items: Sequence[Mapping], seed: int = 0) -> Metric | None:
        """The corpus value with its 95% bootstrap CI over items; None when no item has the column (a
        corpus statistic: when any item lacks one of its columns, e.g. a run scored by lm-eval has no
        option probabilities for the calibration error)."""
        if self.corpus:
            if not self.has_columns(items):
                return None
            point, low, high = bootstrap_ci(self.arrays(items), statistic=self.statistic, seed=seed)
            return Metric(self.name, point, low, high, len(items), self.higher_is_better)
        values = [d[self.columns[0]] for d in items if self.columns[0] in d]
        if not values:
            return None
        point, low, high = bootstrap_ci(values, seed=seed)
        return Metric(self.name, point, low, high, len(values), self.higher_is_better)


@dataclass(frozen=True)
class Metrics:
    """A suite type's declaration: its metrics by name, per-label ones by pattern."""

    defs: tuple[MetricDef, ...] = ()

    def __iter__(self):
        return iter(self.defs)

    def names(self) -> list[str]:
        return [d.name for d in self.defs]

    def get(self, name: str) -> MetricDef | None:
        for d in self.defs:
            if d.name == name:
                return d
        for d in self.defs:
            label = d.get_label(name)
            if label:
                return d.for_label(label)
        return None


def declare(*defs: MetricDef) -> Metrics:
    names = [d.name for d in defs]
    if len(set(names)) != len(names):
        raise ValueError(f"a metric is declared twice: {names}")
    return Metrics(tuple(defs))


def mean_of(name: str, higher_is_better: bool = True, test: str = MEAN) -> MetricDef:
    """A metric that is the mean of the per-sample score of the same name."""
    return MetricDef(name, (name,), None, higher_is_better, test)


# -- direction -----------------------------------------------------------------------------------
def direction(stored, declared: MetricDef | None) -> bool:
    """Higher is better? The direction stored with a metric row wins; an old row (NULL) falls back to
    the declaration; a metric nobody declares is higher-is-better."""
    if not _missing(stored):
        return bool(stored)
    return True if declared is None else declared.higher_is_better


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN
    except TypeError:  # pandas' NA
        return True


# -- paired comparison ---------------------------------------------------------------------------
def per_item(metric: str, items: Iterable[Mapping]) -> np.ndarray:
    """Each item's score of ``metric``, else its primary score (``"_score"``), as floats."""
    return np.array([d.get(metric, d.get("_score")) for d in items], dtype=float)


def test_kind(declared: MetricDef | None, cand: Sequence[Mapping], base: Sequence[Mapping], test: str = "auto",
              metric: str | None = None) -> str:
    """The paired test for ``declared`` on these items. ``test``: ``auto`` (the declaration's),
    ``mcnemar`` or ``paired_bootstrap`` (a policy's override). Without a usable declaration (an
    undeclared metric, or items without its columns) the per-item values choose: McNemar when
    every one is 0/1, else the paired bootstrap of the mean."""
    usable = declared is not None and declared.test is not None and declared.has_columns(cand) \
        and declared.has_columns(base)
    kind = declared.test if usable else None
    if test == "mcnemar":
        return MCNEMAR
    if test == "paired_bootstrap":
        return CORPUS if kind == CORPUS else MEAN
    if kind is not None:
        return kind
    name = metric or (declared.name if declared else "")
    a, b = per_item(name, cand), per_item(name, base)
    return MCNEMAR if bool(np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all()) else MEAN


def compare(declared: MetricDef | None, metric: str, cand: Sequence[Mapping], base: Sequence[Mapping],
            test: str = "auto", seed: int = 0) -> tuple[PairedComparison, str]:
    """candidate - baseline on aligned items (per-item score dicts), by the declared test.

    Returns the comparison and a readable name of the test ("McNemar", "paired bootstrap",
    "paired bootstrap of corpus f1")."""
    kind = test_kind(declared, cand, base, test, metric)
    if kind == CORPUS:
        cmp = paired_statistic_diff(declared.arrays(cand), declared.arrays(base), declared.statistic, seed=seed)
        return cmp, f"paired bootstrap of corpus {metric}"
    a, b = per_item(metric, cand), per_item(metric, base)
    if kind == MCNEMAR:
        return mcnemar_test(a, b, seed=seed), "McNemar"
    return paired_bootstrap(a, b, seed=seed), "paired bootstrap"
