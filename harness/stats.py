"""Statistics over per-sample scores: bootstrap CIs, paired comparisons, McNemar.

Thin wrappers over scipy with the defaults medtune uses everywhere
(95%, percentile bootstrap, 1000 resamples, fixed seed so reports repeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as _stats

N_RESAMPLES = 1000
CONFIDENCE = 0.95


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def bootstrap_ci(
    columns: Sequence[np.ndarray] | np.ndarray,
    statistic: Callable = _mean,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """(point, low, high) for ``statistic`` over samples.

    ``columns`` is one array of per-sample values, or a *tuple* of arrays resampled together.
    ``statistic(*columns, axis=-1)`` must be vectorised, e.g. ``lambda tp, fp, fn, axis: ...``
    for a corpus-level F1 from per-sentence counts.
    """
    cols = [np.asarray(c, dtype=float) for c in (columns if isinstance(columns, tuple) else (columns,))]
    point = float(statistic(*cols, axis=-1))
    n = len(cols[0])
    if n < 2 or all(np.all(c == c[0]) for c in cols):
        return point, point, point
    return (point, *_percentile_ci(tuple(cols), statistic, True, seed, n_resamples, confidence))


def _percentile_ci(samples: tuple, statistic: Callable, paired: bool, seed: int, n_resamples: int,
                   confidence: float) -> tuple[float, float]:
    """scipy's percentile bootstrap with medtune's seeding: (low, high)."""
    res = _stats.bootstrap(samples, statistic, paired=paired, vectorized=True, n_resamples=n_resamples,
                           confidence_level=confidence, method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def two_sample_ci(a: np.ndarray, b: np.ndarray, statistic: Callable, seed: int = 0,
                  n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(point, low, high) for ``statistic(a, b, axis=-1)`` of two independent samples, each resampled
    within itself (stratified: the group sizes stay fixed), e.g. an AUROC of members vs non-members."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    point = float(statistic(a, b, axis=-1))
    if len(a) < 2 or len(b) < 2:
        return point, point, point
    return (point, *_percentile_ci((a, b), statistic, False, seed, n_resamples, confidence))


def auroc(positives: np.ndarray, negatives: np.ndarray, axis: int = -1):
    """Area under the ROC curve of scores for positives vs negatives (Mann-Whitney U / n1 n2; ties count
    half); vectorised over leading axes, for ``two_sample_ci``."""
    n1, n2 = positives.shape[axis], negatives.shape[axis]
    ranks = _stats.rankdata(np.concatenate([positives, negatives], axis=axis), axis=axis)
    u = np.take(ranks, np.arange(n1), axis=axis).sum(axis=axis) - n1 * (n1 + 1) / 2
    return u / (n1 * n2)


def _bootstrap_p(boot: np.ndarray, observed: float) -> float:
    """Two-sided p: how often the centred bootstrap distribution is as extreme as the observed value,
    with the (count + 1) / (resamples + 1) correction, so it is never an impossible 0."""
    extreme = int(np.sum(np.abs(boot - boot.mean()) >= abs(observed)))
    return (extreme + 1) / (len(boot) + 1)


@dataclass
class PairedComparison:
    """candidate - baseline on the same items."""

    delta: float
    ci_low: float
    ci_high: float
    n: int
    p_value: float | None  # McNemar for binary scores, else paired bootstrap two-sided
    test: str


def paired_bootstrap(candidate: np.ndarray, baseline: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES) -> PairedComparison:
    a, b = np.asarray(candidate, float), np.asarray(baseline, float)
    if a.shape != b.shape:
        raise ValueError("paired scores need the same items on both sides")
    diff = a - b
    point, low, high = bootstrap_ci(diff, seed=seed, n_resamples=n_resamples)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(n_resamples, len(diff)))
    boot = diff[idx].mean(axis=1)
    p = _bootstrap_p(boot, point) if len(diff) > 1 else 1.0
    return PairedComparison(point, low, high, len(diff), p, "paired_bootstrap")


def mcnemar_test(candidate: np.ndarray, baseline: np.ndarray, seed: int = 0) -> PairedComparison:
    """Paired comparison of two binary (correct/incorrect) score vectors.

    McNemar's test on the discordant pairs: exact (two-sided binomial, p = 0.5) below 25 of them,
    else the chi-square statistic with continuity correction, as statsmodels' ``mcnemar`` computes it."""
    a, b = np.asarray(candidate).astype(bool), np.asarray(baseline).astype(bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    discordant = only_a + only_b
    if discordant == 0:
        pvalue = 1.0
    elif discordant < 25:
        pvalue = min(1.0, 2 * float(_stats.binom.cdf(min(only_a, only_b), discordant, 0.5)))
    else:
        statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
        pvalue = float(_stats.chi2.sf(statistic, 1))
    point, low, high = bootstrap_ci(a.astype(float) - b.astype(float), seed=seed)
    return PairedComparison(point, low, high, len(a), pvalue, "mcnemar")


def paired_statistic_diff(candidate: tuple, baseline: tuple, statistic: Callable, seed: int = 0,
                          n_resamples: int = N_RESAMPLES) -> PairedComparison:
    """statistic(candidate cols) - statistic(baseline cols), items resampled together on both sides.

    For corpus-level metrics (perplexity as a ratio of sums, F1 from counts) where the paired
    difference is not a mean of per-item differences.
    """
    a = [np.asarray(c, float) for c in candidate]
    b = [np.asarray(c, float) for c in baseline]
    n = len(a[0])
    point = float(statistic(*a, axis=-1) - statistic(*b, axis=-1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    boot = statistic(*[c[idx] for c in a], axis=-1) - statistic(*[c[idx] for c in b], axis=-1)
    low, high = np.percentile(boot, [(1 - CONFIDENCE) / 2 * 100, (1 + CONFIDENCE) / 2 * 100])
    p = _bootstrap_p(boot, point) if n > 1 else 1.0
    return PairedComparison(point, float(low), float(high), n, p, "paired_bootstrap")


def mean_of_means_ci(groups: Sequence[np.ndarray], seed: int = 0, n_resamples: int = N_RESAMPLES) -> tuple[float, float, float]:
    """(point, low, high) of the average of several per-task means, each task resampled on its own."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(g, float) for g in groups]
    point = float(np.mean([g.mean() for g in arrays]))
    boot = np.mean([g[rng.integers(0, len(g), size=(n_resamples, len(g)))].mean(axis=1) for g in arrays], axis=0)
    low, high = np.percentile(boot, [(1 - CONFIDENCE) / 2 * 100, (1 + CONFIDENCE) / 2 * 100])
    return point, float(low), float(high)


# -- calibration -----------------------------------------------------------------------------------
#: expected calibration error: 10 equal-width bins over the top option's probability, [0, 0.1), ..., [0.9, 1.0]
ECE_BINS = 10


def option_probabilities(loglikelihoods) -> np.ndarray:
    """The options' probabilities given that one of them is the answer: the softmax of their log-likelihoods."""
    lls = np.asarray(loglikelihoods, dtype=float)
    e = np.exp(lls - np.max(lls))
    return e / e.sum()


def calibration_bin(confidence) -> np.ndarray:
    """The ECE bin (0..ECE_BINS-1) of each confidence: equal-width, the last bin closed at 1.0."""
    return np.clip(np.floor(np.asarray(confidence, dtype=float) * ECE_BINS).astype(int), 0, ECE_BINS - 1)


def expected_calibration_error(confidence, correct, axis: int = -1):
    """ECE: sum over the ``ECE_BINS`` equal-width bins of the top-option confidence of
    (items in the bin / items) x |accuracy in the bin - mean confidence in the bin|.

    Vectorised over leading axes (for ``bootstrap_ci`` and ``paired_statistic_diff``): each bin's term is
    |sum of (correct - confidence) over its items| / n, summed over bins."""
    conf = np.moveaxis(np.asarray(confidence, dtype=float), axis, -1)
    gap = np.moveaxis(np.asarray(correct, dtype=float), axis, -1) - conf
    bins = calibration_bin(conf)
    total = np.zeros(conf.shape[:-1])
    for b in range(ECE_BINS):
        total = total + np.abs(np.where(bins == b, gap, 0.0).sum(axis=-1))
    return total / conf.shape[-1]
