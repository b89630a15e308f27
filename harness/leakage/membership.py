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
    """Per-token log-probs with the mean / std of log p under the model, via the causal backend's
    decoder and LM head (one forward pass per batch, the vocabulary softmax one text at a time)."""
    import torch
    import torch.nn.functional as F

    tok, dev = lm.tokenizer, lm.device
    seqs = [[lm.prefix_token_id] + tok.encode(t, add_special_tokens=False)[:max_tokens] for t in texts]
    out: list[TokenStats] = []
    with torch.inference_mode():
        for start in range(0, len(seqs), batch_size):
            batch = seqs[start:start + batch_size]
            hidden = lm.hidden_states(batch)
            for i, s in enumerate(batch):
                logits = lm.head(hidden[i, : len(s) - 1]).float()
                if lm.logit_scale:
                    logits = logits * lm.logit_scale
                lp = F.log_softmax(logits, dim=-1)
                p = lp.exp()
                mu = (p * lp).sum(-1)
                sigma = ((p * lp * lp).sum(-1) - mu * mu).clamp(min=1e-12).sqrt()
                target = torch.tensor(s[1:], device=dev)
                out.append(TokenStats(lp.gather(-1, target[:, None])[:, 0].double().cpu().numpy(),
                                      mu.double().cpu().numpy(), sigma.double().cpu().numpy()))
            if progress:
                progress(len(batch))
    return out


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
