"""Membership inference scores, canaries, exposure and the PII scan (tiny model, fake backends)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.contract import LoglikelihoodResult
from harness.leakage import membership, pii
from harness.leakage.exposure import audit_canary, candidates
from tuning.canaries import make_canaries, plant_canaries


def test_plant_canaries_is_seeded_and_counts_repetitions():
    texts = [f"sentence {i}" for i in range(20)]
    out, records = plant_canaries(texts, count=3, repetitions=[1, 2, 4], seed=7)
    assert len(out) == 20 + 7 and texts == [f"sentence {i}" for i in range(20)]
    for rec in records:
        assert out.count(rec["text"]) == rec["repetitions"]
        assert rec["text"].startswith(rec["prefix"] + rec["secret"] + '">') and rec["text"].endswith("</patient>")
        assert rec["secret"] == rec["mrn"] and len(rec["mrn"]) == 8
    assert plant_canaries(texts, 3, [1, 2, 4], seed=7) == (out, records)
    assert plant_canaries(texts, 3, 1, seed=8)[1][0]["name"] != records[0]["name"]
    assert plant_canaries([], 2, 3, seed=0)[0].__len__() == 6  # QA-only data: canaries become the LM texts


def test_pii_scan_known_values_and_patterns():
    rec = make_canaries(1, seed=3)[0]
    found = pii.scan(f'he said {rec["name"]} was born {rec["dob"]}; call {rec["phone"]}, MRN: 12345678', [rec])
    kinds = {(f["kind"], f["known"]) for f in found}
    assert ("name", True) in kinds and ("dob", True) in kinds and ("phone", True) in kinds
    assert ("mrn", False) in kinds  # a record number, but not a planted one
    assert pii.scan("The patient improved after 3 days of treatment with 20 mg daily.", [rec]) == []


class FakeLM:
    """Prefers the true secret (memorised) or not, and greedy-decodes it or not."""

    def __init__(self, secret: str, memorised: bool):
        self.secret, self.memorised = secret, memorised

    def loglikelihood(self, requests):
        def lp(cont):
            if cont.startswith(self.secret):
                return -1.0 if self.memorised else -8.0
            return -5.0 - int(cont[:3]) / 100  # between -5 and -15, by candidate
        return [LoglikelihoodResult(lp(r.args[1]), False, 9) for r in requests]

    def generate_until(self, requests):
        return [self.secret + '">Seen.' if self.memorised else "0000" for _ in requests]


@pytest.mark.parametrize("memorised", [True, False])
def test_exposure_and_reproduction(memorised):
    rec = make_canaries(1, seed=0)[0]
    out = audit_canary(FakeLM(rec["secret"], memorised), rec, n_candidates=64)
    assert out["candidates"] == 64
    if memorised:
        assert out["rank"] == 1 and out["exposure"] == pytest.approx(math.log2(64)) and out["reproduced"]
        assert any(f["kind"] == "mrn" and f["value"] == rec["secret"] and f["known"] for f in out["pii"])
    else:
        assert out["rank"] > 1 and out["exposure"] < math.log2(64) and not out["reproduced"]


def test_candidates_distinct_and_formatted():
    rec = make_canaries(1, seed=0)[0]
    cands = candidates(rec, 100)
    assert cands[0] == rec["secret"] and len(set(cands)) == 100 and all(len(c) == 8 and c.isdigit() for c in cands)


def _stats(lp):
    lp = np.asarray(lp, float)
    return membership.TokenStats(lp, np.full_like(lp, -3.0), np.ones_like(lp))


def test_min_k_scores_and_auroc():
    s = membership.scores(_stats([-1, -2, -10, -0.5, -0.1]), k=0.2)
    assert s["min_k"] == -10 and s["loss"] == pytest.approx(-2.72) and s["min_k_plus_plus"] == -7
    members = [_stats([-0.5, -1.0, -1.5]) for _ in range(5)]
    nonmembers = [_stats([-3.0, -4.0, -6.0]) for _ in range(5)]
    assert membership.auroc(members, nonmembers) == {m: (1.0, 1.0, 1.0) for m in ("loss", "min_k", "min_k_plus_plus")}
    assert membership.auroc(members, members)["min_k"] == (0.5, 0.5, 0.5)


def test_auroc_matches_mann_whitney_u_and_its_ci_covers_it():
    from scipy.stats import mannwhitneyu

    from harness import stats

    rng = np.random.default_rng(3)
    pos, neg = rng.normal(1.0, 1, 32).round(1), rng.normal(0.0, 1, 200).round(1)  # rounded: ties too
    point, low, high = stats.two_sample_ci(pos, neg, stats.auroc)
    # AUROC = U / (n1 n0), ties counted as half (the rank-sum definition sklearn's roc_auc_score shares)
    assert point == pytest.approx(mannwhitneyu(pos, neg).statistic / (32 * 200))
    assert low < point < high and 0.05 < high - low < 0.4  # 32 members: a CI a reviewer must see


def test_token_stats_on_tiny_model(tiny_causal):
    from harness.models import load, resolve

    lm = load(resolve(str(tiny_causal)), device="cpu", dtype="float32")
    texts = ["Answer: myocardial infarction.", "The quick brown fox jumps over the lazy dog."]
    stats = membership.token_stats(lm, texts, max_tokens=16, batch_size=2)
    for text, st in zip(texts, stats):
        n = len(lm.tokenizer.encode(text, add_special_tokens=False)[:16])
        assert len(st.logprob) == n and np.all(st.logprob <= 0) and np.all(st.sigma > 0)
    # the per-token log-probs agree with the backend's own rolling log-likelihood
    from harness.contract import loglikelihood_rolling

    total = lm.loglikelihood_rolling([loglikelihood_rolling(0, texts[0])])[0].logprob
    assert stats[0].logprob.sum() == pytest.approx(total, abs=1e-3)
