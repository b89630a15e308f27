"""Membership inference on a causal variant: did it train on this text?

Per token t of a text the model gives log p(x_t | x_<t) and, over its whole next-token
distribution, the mean mu_t = E_z[log p(z)] and spread sigma_t of log p(z). Scores (higher
means "more likely a member"):

- ``loss``: the mean token log-probability (the LOSS attack baseline);
- ``min_k``: the mean of the k% lowest token log-probs (Min-K% Prob, Shi et al. 2024);
- ``min_k_plus_plus``: the mean of the k% lowest (log p - mu) / sigma (Min-K%++, Zhang et al. 2024).

AUROC of each score on member vs non-member texts (0.5: no signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

METHODS = ("loss", "min_k", "min_k_plus_plus")


@dataclass
class TokenStats:
    logprob: np.ndarray  # log p(x_t | x_<t) per scored token
    mu: np.ndarray
    sigma: np.ndarray


def token_stats(lm, texts: list[str], max_tokens: int = 128, batch_size: int = 4,
                progress: Callable[[int], None] | None = None) -> list[TokenStats]:
    """Per-token log-probs with the mean / std of log p under the model, through the model contract's
    ``token_logprobs`` request kind (any backend that answers it: the causal HF backend, the mock).
    ``batch_size`` is kept for callers; the backend batches its own forward passes. Under a launcher
    (torchrun, ``--processes N``) the texts are split over the ranks and every rank gets all the stats."""
    from harness import contract
    from harness.errors import MedtuneError

    if not lm.supports("token_logprobs"):
        raise MedtuneError(f"membership inference needs a backend answering token_logprobs; "
                           f"{lm.info.name} ({lm.info.kind}) does not")
    from harness import distributed

    def score(part: list[str]) -> list[TokenStats]:
        requests = [contract.token_logprobs(i, t, max_tokens) for i, t in enumerate(part)]
        return [TokenStats(np.asarray(r.logprob), np.asarray(r.mean), np.asarray(r.std))
                for r in lm.token_logprobs(requests, progress=progress)]

    # under a launcher each rank scores its slice of the texts; every rank gets them all, in order
    return distributed.map_slices(score, texts)


def _lowest_mean(values: np.ndarray, k: float) -> float:
    if len(values) == 0:
        return float("nan")
    m = max(1, int(len(values) * k))
    return float(np.sort(values)[:m].mean())


def scores(stats: TokenStats, k: float = 0.2) -> dict[str, float]:
    return {"loss": float(stats.logprob.mean()) if len(stats.logprob) else float("nan"),
            "min_k": _lowest_mean(stats.logprob, k),
            "min_k_plus_plus": _lowest_mean((stats.logprob - stats.mu) / stats.sigma, k)}


def auroc(members: list[TokenStats], nonmembers: list[TokenStats], k: float = 0.2,
          seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """(AUROC, 95% CI low, high) of each method separating members from non-members; the CI is a
    bootstrap that resamples members and non-members separately. NaN where a side has no scores."""
    from harness import stats

    ms = [scores(s, k) for s in members]
    ns = [scores(s, k) for s in nonmembers]
    out = {}
    for method in METHODS:
        pos = np.array([s[method] for s in ms])
        neg = np.array([s[method] for s in ns])
        pos, neg = pos[~np.isnan(pos)], neg[~np.isnan(neg)]
        out[method] = (stats.two_sample_ci(pos, neg, stats.auroc, seed=seed) if len(pos) and len(neg)
                       else (float("nan"),) * 3)
    return out
