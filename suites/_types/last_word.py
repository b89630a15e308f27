"""LAMBADA-style last-word prediction: is the target the greedy continuation, and its perplexity."""

from __future__ import annotations

import numpy as np

from harness import contract
from harness.results import Metric, Sample
from harness.stats import bootstrap_ci
from suites._types.base import SuiteType


class LastWord(SuiteType):
    request_kinds = ("loglikelihood",)

    def requests(self, doc_index, doc):
        return [contract.loglikelihood(doc_index, 0, doc["context"], self.suite.spec.target_delimiter + doc["target"])]

    def score(self, doc, responses):
        res = responses["loglikelihood"][0]
        return Sample(doc_id=str(doc["id"]), target=doc["target"], prediction=None, correct=res.is_greedy,
                      score=float(res.is_greedy), scores={"acc": float(res.is_greedy), "loglikelihood": res.logprob},
                      record={"context_tail": doc["context"][-300:], "target": doc["target"], "loglikelihood": res.logprob,
                              "n_tokens": res.n_tokens})

    def aggregate(self, samples, seed=0):
        acc = np.array([s.scores["acc"] for s in samples])
        ll = np.array([s.scores["loglikelihood"] for s in samples])
        out = [Metric("acc", *bootstrap_ci(acc, seed=seed), len(samples))]
        point, low, high = bootstrap_ci(ll, statistic=lambda x, axis=-1: np.exp(-x.mean(axis)), seed=seed)
        out.append(Metric("perplexity", point, low, high, len(samples)))  # higher ll => lower ppl
        return out
