"""The paired test behind ``max_drop``: the one the metric's declaration names (``harness.metrics``).

- 0/1 per item (accuracy): McNemar on the discordant pairs;
- corpus scores (NER precision/recall/F1 from per-sentence tp/fp/fn, perplexity from summed
  log-likelihoods): paired bootstrap of the *corpus* score, resampling items for both variants at once;
- any other per-item value: paired bootstrap of the mean difference.

A metric no suite type declares, or items without the declared columns, fall back to the per-item
values: McNemar when they are all 0/1, else the paired bootstrap of the mean.
"""

from __future__ import annotations

import numpy as np

from harness.metrics import compare
from harness.stats import N_RESAMPLES, PairedComparison, paired_statistic_diff
from suites._types.declarations import metric_def


def corpus_paired_bootstrap(metric: str, a: np.ndarray, b: np.ndarray, seed: int = 0,
                            n_resamples: int = N_RESAMPLES, suite_type: str | None = "ner") -> PairedComparison:
    """candidate - baseline corpus score of ``metric`` from (n, k) column arrays (e.g. tp/fp/fn),
    resampling the same items on both sides."""
    declared = metric_def(metric, suite_type)
    return paired_statistic_diff(tuple(a.T), tuple(b.T), declared.statistic, seed=seed, n_resamples=n_resamples)


def paired_test(metric: str, cand: list[dict], base: list[dict], test: str = "auto",
                suite_type: str | None = None) -> tuple[PairedComparison, str]:
    """The comparison and a readable name of the test used. ``cand``/``base``: per-item score dicts,
    aligned item by item (each with the sample's primary ``score`` under ``"_score"``)."""
    return compare(metric_def(metric, suite_type), metric, cand, base, test)
