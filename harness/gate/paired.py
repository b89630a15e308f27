"""The paired test behind ``max_drop``, chosen by what the per-item scores are.

- 0/1 per item (accuracy): McNemar on the discordant pairs (``harness.stats.mcnemar_test``);
- precision/recall/F1 with per-item tp/fp/fn counts (NER): paired bootstrap of the *corpus* score,
  resampling sentences for both variants at once, as seqeval's corpus F1 is computed;
- any other per-item value (perplexity, log-likelihood, F1 without counts): paired bootstrap of the
  mean difference (``harness.stats.paired_bootstrap``).
"""

from __future__ import annotations

import numpy as np

from harness.stats import N_RESAMPLES, PairedComparison, mcnemar_test, paired_bootstrap, paired_statistic_diff

COUNT_METRICS = ("f1", "precision", "recall")


def _counts(metric: str, items: list[dict]) -> np.ndarray | None:
    """(n, 3) tp/fp/fn for ``f1`` or ``f1_<type>``-style metrics, if every item carries them."""
    head, _, label = metric.partition("_")
    if head not in COUNT_METRICS:
        return None
    keys = [f"{k}_{label}" if label else k for k in ("tp", "fp", "fn")]
    if not items or not all(all(k in d for k in keys) for d in items):
        return None
    return np.array([[d[k] for k in keys] for d in items], dtype=float)


def _corpus(metric: str, tp, fp, fn):
    with np.errstate(invalid="ignore", divide="ignore"):
        head = metric.partition("_")[0]
        value = {"f1": 2 * tp / (2 * tp + fp + fn), "precision": tp / (tp + fp), "recall": tp / (tp + fn)}[head]
    return np.nan_to_num(value)


def corpus_paired_bootstrap(metric: str, a: np.ndarray, b: np.ndarray, seed: int = 0,
                            n_resamples: int = N_RESAMPLES) -> PairedComparison:
    """candidate - baseline corpus score, resampling the same items on both sides."""

    def corpus(tp, fp, fn, axis=-1):
        return _corpus(metric, tp.sum(axis), fp.sum(axis), fn.sum(axis))

    return paired_statistic_diff(tuple(a.T), tuple(b.T), corpus, seed=seed, n_resamples=n_resamples)


def paired_test(metric: str, cand: list[dict], base: list[dict], test: str = "auto") -> tuple[PairedComparison, str]:
    """The comparison and a readable name of the test used. ``cand``/``base``: per-item score dicts,
    aligned item by item (each with the sample's primary ``score`` under ``"_score"``)."""
    ca, cb = _counts(metric, cand), _counts(metric, base)
    if test in ("auto", "paired_bootstrap") and ca is not None and cb is not None:
        return corpus_paired_bootstrap(metric, ca, cb), f"paired bootstrap of corpus {metric}"
    a = np.array([d.get(metric, d.get("_score")) for d in cand], dtype=float)
    b = np.array([d.get(metric, d.get("_score")) for d in base], dtype=float)
    binary = bool(np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all())
    if test == "mcnemar" or (test == "auto" and binary):
        return mcnemar_test(a, b), "McNemar"
    return paired_bootstrap(a, b), "paired bootstrap"
