"""Two-sample drift tests and effect sizes, plain numpy/scipy (no monitoring library needed).

- numbers: Kolmogorov-Smirnov (``scipy.stats.ks_2samp``) for the test, the Population Stability Index for
  the effect (10 bins at the reference's deciles; 0.1 is commonly read as a moderate shift, 0.25 a large one);
- categories: chi-square on the 2 x K table (``scipy.stats.chi2_contingency``), PSI for the effect, over the
  reference's commonest categories plus "other";
- embeddings: the maximum mean discrepancy with a Gaussian kernel (bandwidth: the median pairwise distance
  of the pooled sample); p-value from a gamma distribution fitted to the statistic under permutations
  (Gretton et al., 2009), so that a p-value can be far below 1/permutations and still survive a correction
  over many tests; the effect is the MMD (square root of the unbiased MMD², 0 when that is negative);
- multiple testing: Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values;
- proportions: Wilson score intervals; a one-sided two-proportion z-test.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st

EPS = 1e-4  # floor of a bin's share in PSI (an empty bin would make it infinite)


def psi_from_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    p = np.maximum(np.asarray(ref, float) / max(float(np.sum(ref)), 1.0), EPS)
    q = np.maximum(np.asarray(cur, float) / max(float(np.sum(cur)), 1.0), EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_edges(ref: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (ties merged)."""
    ref = np.asarray(ref, float)
    if ref.size == 0:
        return np.array([])
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))


def psi_numeric(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> float:
    edges = numeric_edges(ref, bins)
    k = len(edges) + 1
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=k)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=k)
    return psi_from_counts(r, c)


def ks_test(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """(D statistic, p-value)."""
    if len(ref) == 0 or len(cur) == 0:
        return float("nan"), float("nan")
    res = st.ks_2samp(ref, cur, method="asymp" if len(ref) * len(cur) > 10_000 else "auto")
    return float(res.statistic), float(res.pvalue)


def categorical_test(ref: dict[str, int], cur: dict[str, int], top: int = 20) -> tuple[float, float, float]:
    """(chi-square statistic, p-value, PSI) over the reference's ``top`` categories plus "other"."""
    keep = [k for k, _ in sorted(ref.items(), key=lambda kv: -kv[1])[:top]]
    r = np.array([ref.get(k, 0) for k in keep] + [sum(v for k, v in ref.items() if k not in keep)], float)
    c = np.array([cur.get(k, 0) for k in keep] + [sum(v for k, v in cur.items() if k not in keep)], float)
    psi = psi_from_counts(r, c)
    table = np.vstack([r, c])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table.sum(axis=1).min() == 0:
        return 0.0, 1.0, psi
    chi2, p, _, _ = st.chi2_contingency(table, correction=False)
    return float(chi2), float(p), psi


def mmd_test(x: np.ndarray, y: np.ndarray, permutations: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """(biased MMD², p-value, MMD effect) between samples ``x`` (n, d) and ``y`` (m, d)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, m = len(x), len(y)
    if n < 5 or m < 5:
        return float("nan"), float("nan"), float("nan")
    z = np.vstack([x, y])
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    iu = np.triu_indices(len(z), 1)
    med = float(np.median(d2[iu]))
    k = np.exp(-d2 / (med if med > 0 else 1.0))  # exp(-d^2 / median(d^2)): bandwidth^2 = median/2
    s = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    observed = float(s @ k @ s)  # biased MMD^2 (V-statistic), >= 0
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(s) for _ in range(permutations)], axis=1)
    null = np.einsum("ip,ip->p", k @ perms, perms)
    mean, var = float(null.mean()), float(null.var(ddof=1))
    if var <= 0 or mean <= 0:
        p = float((1 + np.sum(null >= observed)) / (permutations + 1))
    else:
        shape, scale = mean * mean / var, var / mean
        p = float(st.gamma.sf(observed, shape, scale=scale))
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    unbiased = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                - 2 * kxy.mean())
    return observed, p, float(math.sqrt(max(unbiased, 0.0)))


def witness(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """The MMD witness function at each row of ``cur``: its mean kernel similarity to ``cur`` minus that to ``ref``
    (same Gaussian kernel as ``mmd_test``). High where the current sample has more mass than the reference:
    the drifted region."""
    ref, cur = np.asarray(ref, np.float64), np.asarray(cur, np.float64)
    z = np.vstack([ref, cur])
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    med = float(np.median(d2[np.triu_indices(len(z), 1)])) if len(z) > 1 else 1.0
    k = np.exp(-d2[len(ref):] / (med if med > 0 else 1.0))
    return k[:, len(ref):].mean(axis=1) - k[:, :len(ref)].mean(axis=1)


def adjust(p_values: list[float], method: str = "holm") -> list[float]:
    """Holm or Benjamini-Hochberg adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if idx.size == 0:
        return out.tolist()
    q = p[idx]
    order = np.argsort(q)
    k = q.size
    if method == "holm":
        adj = np.maximum.accumulate((k - np.arange(k)) * q[order])
    elif method in ("bh", "fdr_bh", "benjamini-hochberg"):
        adj = np.minimum.accumulate((k / np.arange(k, 0, -1) * q[order][::-1]))[::-1]
    else:
        raise ValueError(f"unknown correction {method!r}: holm or bh")
    res = np.empty(k)
    res[order] = np.minimum(adj, 1.0)
    out[idx] = res
    return out.tolist()


def wilson(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n <= 0:
        return float("nan"), float("nan")
    z = st.norm.ppf(0.5 + confidence / 2)
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_increase_p(x1: float, n1: int, x0: float, n0: int) -> float:
    """One-sided p-value that the proportion x1/n1 exceeds x0/n0 (pooled two-proportion z-test)."""
    if n1 <= 0 or n0 <= 0:
        return float("nan")
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return 1.0 if x1 / n1 <= x0 / n0 else 0.0
    return float(st.norm.sf((x1 / n1 - x0 / n0) / se))
