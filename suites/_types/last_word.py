"""LAMBADA-style last-word prediction: is the target the greedy continuation, and its perplexity."""

from __future__ import annotations

import numpy as np

from harness import contract
from harness.metrics import CORPUS, MCNEMAR, MetricDef, declare
from harness.results import Sample
from suites._types.base import SuiteType


def perplexity(ll, axis=-1):
    """LAMBADA's perplexity of the target words: exp(-mean log-likelihood); higher ll => lower ppl."""
    return np.exp(-ll.mean(axis))


class LastWord(SuiteType):
    request_kinds = ("loglikelihood",)
    metrics = declare(MetricDef("acc", ("acc",), test=MCNEMAR, always=True),
                      MetricDef("perplexity", ("loglikelihood",), perplexity, higher_is_better=False, test=CORPUS,
                                always=True))

    def requests(self, doc_index, doc):
        return [contract.loglikelihood(doc_index, 0, doc["context"], self.suite.spec.target_delimiter + doc["target"])]

    def score(self, doc, responses):
        res = responses["loglikelihood"][0]
        return Sample(doc_id=str(doc["id"]), target=doc["target"], prediction=None, correct=res.is_greedy,
                      score=float(res.is_greedy), scores={"acc": float(res.is_greedy), "loglikelihood": res.logprob},
                      record={"context_tail": doc["context"][-300:], "target": doc["target"], "loglikelihood": res.logprob,
                              "n_tokens": res.n_tokens})
