"""Multiple choice by log-likelihood: one ``loglikelihood`` request per option, sharing the prompt.

Documents carry ``choices`` (option texts) and ``gold`` (index). The option's continuation is
``target_delimiter + text`` (cloze style, the default for small models) or ``target_delimiter +
letter`` with the options listed in the prompt (``--option choice_style=letter``).
Per-sample: ``acc`` (argmax loglikelihood), ``acc_norm`` (argmax loglikelihood per character of
the option, as lm-eval), the loglikelihoods and the chosen option; for calibration, the options'
probabilities are the softmax of their log-likelihoods: ``confidence`` (the chosen option's) and
``brier`` (sum over options of (probability - 1 if gold else 0)^2, 0..2).

Calibration metrics, reported by every multiple-choice suite (lower is better): ``ece``, the expected
calibration error over 10 equal-width bins of the top option's probability (``harness.stats``), and
``brier``, the mean Brier score; each with a bootstrap CI, compared by a paired bootstrap.
"""

from __future__ import annotations

import numbers

import numpy as np

from harness import contract
from harness.errors import MedtuneError
from harness.metrics import CORPUS, MCNEMAR, MEAN, MetricDef, declare, mean_of
from harness.results import Sample
from harness.stats import expected_calibration_error, option_probabilities
from suites._types.base import SuiteType

LETTERS = "ABCDEFGHIJ"


class MultipleChoice(SuiteType):
    request_kinds = ("loglikelihood",)
    metrics = declare(mean_of("acc", test=MCNEMAR), mean_of("acc_norm", test=MCNEMAR),
                      MetricDef("ece", ("confidence", "acc"), expected_calibration_error, higher_is_better=False,
                                test=CORPUS, always=True),
                      MetricDef("brier", ("brier",), None, higher_is_better=False, test=MEAN, always=True))

    def __init__(self, suite):
        super().__init__(suite)
        style = suite.options.get("choice_style", "text")
        if style not in ("text", "letter"):
            raise MedtuneError(f"suite {suite.name}: option 'choice_style' is {style!r}, expected text or letter")

    def check_document(self, doc: dict) -> str | None:
        """What a document lacks to be scored (None: nothing): ``choices`` (2+ option texts) and ``gold`` (an
        index into them), ``contexts`` and ``continuation`` for partial scoring."""
        choices = doc.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            return f"without 'choices' as a list of 2 or more option texts (it has choices={choices!r})"
        if "contexts" in doc and (not isinstance(doc["contexts"], list) or len(doc["contexts"]) != len(choices)
                                  or not isinstance(doc.get("continuation"), str)):
            return "with 'contexts' that is not one context per option, or without a 'continuation' text"
        gold = doc.get("gold")
        if gold is None:
            return f"without 'gold' (the index of the correct option, 0..{len(choices) - 1})"
        if isinstance(gold, bool) or not isinstance(gold, numbers.Integral) or not 0 <= gold < len(choices):
            return f"with 'gold' {gold!r}, expected an integer index 0..{len(choices) - 1} into its {len(choices)} choices"
        return None

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
        probs = option_probabilities(lls)
        brier = float(np.sum((probs - (np.arange(len(probs)) == gold)) ** 2))
        return Sample(
            doc_id=str(doc["id"]),
            target=gold,
            prediction=pred,
            correct=pred == gold,
            score=float(pred == gold),
            scores={"acc": float(pred == gold), "acc_norm": float(pred_norm == gold),
                    "confidence": float(probs[pred]), "brier": brier},
            record={
                "prompt": self.suite.prompt(doc) if "contexts" not in doc else doc["contexts"],
                "options": conts,
                "loglikelihoods": lls.tolist(),
                "is_greedy": [bool(r.is_greedy) for r in results],
                "n_tokens": [int(r.n_tokens) for r in results],
                "prediction_norm": pred_norm,
            },
        )
