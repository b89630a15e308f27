"""Multiple choice by log-likelihood: one ``loglikelihood`` request per option, sharing the prompt.

Documents carry ``choices`` (option texts) and ``gold`` (index). The option's continuation is
``target_delimiter + text`` (cloze style, the default for small models) or ``target_delimiter +
letter`` with the options listed in the prompt (``--option choice_style=letter``).
Per-sample: ``acc`` (argmax loglikelihood), ``acc_norm`` (argmax loglikelihood per character of
the option, as lm-eval), the loglikelihoods and the chosen option.
"""

from __future__ import annotations

import numpy as np

from harness import contract
from harness.errors import MedtuneError
from harness.metrics import MCNEMAR, declare, mean_of
from harness.results import Sample
from suites._types.base import SuiteType

LETTERS = "ABCDEFGHIJ"


class MultipleChoice(SuiteType):
    request_kinds = ("loglikelihood",)
    metrics = declare(mean_of("acc", test=MCNEMAR), mean_of("acc_norm", test=MCNEMAR))

    def __init__(self, suite):
        super().__init__(suite)
        style = suite.options.get("choice_style", "text")
        if style not in ("text", "letter"):
            raise MedtuneError(f"suite {suite.name}: option 'choice_style' is {style!r}, expected text or letter")

    def continuations(self, doc: dict) -> list[str]:
        if "contexts" in doc:  # partial scoring: the same continuation after each context
            return [self.suite.spec.target_delimiter + doc["continuation"]] * len(doc["contexts"])
        style = self.suite.options.get("choice_style", "text")
        labels = doc["choices"] if style == "text" else list(LETTERS[: len(doc["choices"])])
        return [self.suite.spec.target_delimiter + label for label in labels]

    def target_text(self, doc: dict) -> str:
        return self.continuations(doc)[doc["gold"]]

    def contexts(self, doc: dict) -> list[str]:
        """One shared prompt, or (partial scoring, e.g. WinoGrande) one context per option."""
        if "contexts" in doc:
            return list(doc["contexts"])
        return [self.suite.prompt(doc)] * len(doc["choices"])

    def requests(self, doc_index, doc):
        return [contract.loglikelihood(doc_index, i, ctx, c)
                for i, (ctx, c) in enumerate(zip(self.contexts(doc), self.continuations(doc)))]

    def score(self, doc, responses):
        results = responses["loglikelihood"]
        lls = np.array([r.logprob for r in results])
        conts = self.continuations(doc)
        lengths = np.array([max(len(c.strip()), 1) for c in conts], dtype=float)
        pred = int(np.argmax(lls))
        pred_norm = int(np.argmax(lls / lengths))
        gold = int(doc["gold"])
        return Sample(
            doc_id=str(doc["id"]),
            target=gold,
            prediction=pred,
            correct=pred == gold,
            score=float(pred == gold),
            scores={"acc": float(pred == gold), "acc_norm": float(pred_norm == gold)},
            record={
                "prompt": self.suite.prompt(doc) if "contexts" not in doc else doc["contexts"],
                "options": conts,
                "loglikelihoods": lls.tolist(),
                "is_greedy": [bool(r.is_greedy) for r in results],
                "n_tokens": [int(r.n_tokens) for r in results],
                "prediction_norm": pred_norm,
            },
        )
