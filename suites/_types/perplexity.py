"""Perplexity by rolling log-likelihood over whole documents (lm-eval's method).

Per document: total log-likelihood, tokens, words and bytes of the original text. Corpus
metrics are ratios of sums — ``word_perplexity``, ``byte_perplexity``, ``bits_per_byte``,
``token_perplexity`` — with bootstrap CIs over documents. Lower is better.
"""

from __future__ import annotations

import math
import re

import numpy as np

from harness import contract
from harness.metrics import CORPUS, MetricDef, declare
from harness.results import Sample
from suites._types.base import SuiteType

LN2 = math.log(2)
COLUMNS = ("loglikelihood", "tokens", "words", "bytes")


def _ratio(kind: str):
    def stat(ll, tokens, words, nbytes, axis=-1):
        total = ll.sum(axis)
        if kind == "word_perplexity":
            return np.exp(-total / words.sum(axis))
        if kind == "byte_perplexity":
            return np.exp(-total / nbytes.sum(axis))
        if kind == "bits_per_byte":
            return -total / (nbytes.sum(axis) * LN2)
        return np.exp(-total / tokens.sum(axis))
    return stat


class Perplexity(SuiteType):
    request_kinds = ("loglikelihood_rolling",)
    metrics = declare(*(MetricDef(kind, COLUMNS, _ratio(kind), higher_is_better=False, test=CORPUS)
                        for kind in ("word_perplexity", "byte_perplexity", "bits_per_byte", "token_perplexity")))

    def requests(self, doc_index, doc):
        return [contract.loglikelihood_rolling(doc_index, doc["text"])]

    def score(self, doc, responses):
        res = responses["loglikelihood_rolling"][0]
        words = len(re.split(r"\s+", doc["page"]))
        nbytes = len(doc["page"].encode("utf-8"))
        return Sample(doc_id=str(doc["id"]), target=None, prediction=None, correct=None, score=res.logprob,
                      scores={"loglikelihood": res.logprob, "tokens": res.n_tokens, "words": words, "bytes": nbytes},
                      record={"title": doc["id"], "chars": len(doc["text"])})
