"""How a suite type meets the audit: which text is perturbed, how an item scores, and how giskard sees it.

- multiple choice: the document's ``question`` (or ``query``/``ctx``) is perturbed, options untouched;
  for giskard's scan the model is a classifier whose classes are the option letters and whose
  ``predict_proba`` is the softmax over the option log-likelihoods; the paired score is ``acc``.
- NER: the sentence is perturbed **only on its non-entity words** (gold ``O`` words), so the gold
  tags stay aligned word for word; entity words are never changed. Each maximal run of ``O`` words
  is perturbed as one string and re-split on whitespace (a run may gain or lose words; they are all
  ``O``). The paired score is corpus entity F1 (summed counts). giskard's scan, when it runs, sees the
  whole sentence as a regression model whose output is the number of predicted entity words (giskard
  has no sequence-labelling model type).

The score of a set of items and the paired test (perturbed - clean) are the metric's declaration
in the suite type (``harness.metrics``: McNemar for accuracy, paired bootstrap of the corpus F1).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from harness.errors import MedtuneError
from harness.metrics import MetricDef, compare
from harness.results import Sample
from harness.stats import PairedComparison
from suites._types.declarations import metric_def

LETTERS = "ABCDEFGHIJ"
SUPPORTED_TYPES = ("multiple_choice", "ner")


class _Scored:
    """The score of a set of samples and the paired test, as the suite type declares ``metric``."""

    suite_type: str
    metric: str

    @property
    def declared(self) -> MetricDef:
        return metric_def(self.metric, self.suite_type)

    def summary(self, samples: list[Sample]) -> float:
        return self.declared.value([s.scores for s in samples])

    def paired(self, clean: list[Sample], perturbed: list[Sample], seed: int = 0) -> PairedComparison:
        """perturbed - clean on the same items, by the declared test."""
        return compare(self.declared, self.metric, [s.scores for s in perturbed], [s.scores for s in clean],
                       seed=seed)[0]


class QAAdapter(_Scored):
    """Multiple-choice QA: perturb the question (``question``, else ``query`` or ``ctx``); classes are option letters."""

    suite_type = "multiple_choice"
    metric = "acc"
    model_type = "classification"
    TEXT_FIELDS = ("question", "query", "ctx")

    def __init__(self, docs: list[dict], suite_name: str = "suite"):
        self.docs = docs
        self.labels = list(LETTERS[: max(len(d["choices"]) for d in docs)])
        field = next((f for f in self.TEXT_FIELDS if all(isinstance(d.get(f), str) for d in docs)), None)
        if field is None:
            raise MedtuneError(f"suite {suite_name}: its documents have no question text to perturb "
                               f"(none of the fields {', '.join(self.TEXT_FIELDS)}); the robustness audit needs one")
        self.text_column = field  # the document field perturbed, and giskard's text feature

    def text(self, doc: dict) -> str:
        return doc[self.text_column]

    def key(self, doc: dict):
        return doc[self.text_column]

    def with_text(self, doc: dict, text: str) -> dict:
        return {**doc, self.text_column: text}

    def target(self, doc: dict) -> str:
        return self.labels[int(doc["gold"])]

    def output(self, sample: Sample) -> np.ndarray:
        """Softmax over the option log-likelihoods, padded to the widest question's options."""
        lls = np.asarray(sample.record["loglikelihoods"], dtype=float)
        p = np.exp(lls - lls.max())
        out = np.zeros(len(self.labels))
        out[: len(p)] = p / p.sum()
        return out

    def flipped(self, clean: Sample, perturbed: Sample) -> bool:
        return int(clean.prediction) != int(perturbed.prediction)

    def perturb(self, edit: Callable[[str], str]) -> dict[int, dict]:
        """Item index -> perturbed document, for the items ``edit`` changes."""
        new = [edit(self.text(d)) for d in self.docs]
        return {i: self.with_text(d, t) for i, (d, t) in enumerate(zip(self.docs, new)) if t != self.text(d)}


class NERAdapter(_Scored):
    """NER: perturb non-entity words only; giskard's scan sees a regression on the predicted entity count."""

    suite_type = "ner"
    text_column = "sentence"
    metric = "f1"
    model_type = "regression"
    labels = None
    words_key, tags_key = "words", "tags"  # as suites/_types/ner.py reads them

    def __init__(self, docs: list[dict]):
        self.docs = docs

    def text(self, doc: dict) -> str:
        return " ".join(doc[self.words_key])

    def key(self, doc: dict):
        return tuple(doc[self.words_key])

    def with_text(self, doc: dict, text: str) -> dict:
        """A sentence giskard perturbed as a whole (its scan only): tags re-aligned word by word.

        Unchanged words and same-length replaced blocks keep their tags, other new words get ``O``;
        giskard only reads the predicted entity count, the tags just keep the document well formed.
        """
        import difflib

        old, words = list(doc[self.words_key]), text.split()
        tags = ["O"] * len(words)
        for op, a0, a1, b0, b1 in difflib.SequenceMatcher(a=old, b=words, autojunk=False).get_opcodes():
            if op == "equal" or (op == "replace" and a1 - a0 == b1 - b0):
                tags[b0:b1] = doc[self.tags_key][a0:a1]
        return {**doc, self.words_key: words, self.tags_key: tags}

    def target(self, doc: dict) -> float:
        return float(sum(t != "O" for t in doc[self.tags_key]))

    def output(self, sample: Sample) -> float:
        return float(sum(t != "O" for t in _predicted_tags(sample)))

    def flipped(self, clean: Sample, perturbed: Sample) -> bool:
        """Did the tagging change? Same length: any word's tag. Else (a run of O words changed length):
        the tags on the gold entity words (never perturbed, so they align) or the number of entities."""
        a, b = _predicted_tags(clean), _predicted_tags(perturbed)
        if len(a) == len(b):
            return a != b
        on_entities = lambda s, tags: [t for g, t in zip(s.record["gold"], tags) if g != "O"]
        n_entities = lambda tags: sum(t.startswith("B-") for t in tags)
        return on_entities(clean, a) != on_entities(perturbed, b) or n_entities(a) != n_entities(b)

    def perturb(self, edit: Callable[[str], str]) -> dict[int, dict]:
        """Item index -> perturbed document: ``edit`` applied to each run of ``O`` words, entities untouched."""
        runs = []  # (doc index, start, end) of each maximal run of O words
        for i, doc in enumerate(self.docs):
            tags, start = doc[self.tags_key], None
            for j, tag in enumerate(list(tags) + ["B-end"]):
                if tag == "O" and start is None:
                    start = j
                elif tag != "O" and start is not None:
                    runs.append((i, start, j))
                    start = None
        olds = [" ".join(self.docs[i][self.words_key][a:b]) for i, a, b in runs]
        changed: dict[int, dict] = {}
        # rebuild from the last run backwards so earlier word offsets stay valid
        for (i, a, b), old, text in reversed(list(zip(runs, olds, [edit(t) for t in olds]))):
            if text == old or not text.split():
                continue
            doc = changed.get(i, self.docs[i])
            words, tags = list(doc[self.words_key]), list(doc[self.tags_key])
            repl = text.split()
            words[a:b], tags[a:b] = repl, ["O"] * len(repl)
            changed[i] = {**doc, self.words_key: words, self.tags_key: tags}
        return changed


def _predicted_tags(sample: Sample) -> list[str]:
    pred = sample.prediction
    if isinstance(pred, str):
        pred = pred.split()
    return list(pred or sample.record.get("predicted", []))


def check_supported(suite) -> None:
    """A clear error for a suite type the audit cannot score paired (before any data or model is loaded)."""
    if suite.spec.type in SUPPORTED_TYPES:
        return
    kind = suite.spec.type
    raise MedtuneError(
        f"suite {suite.name} is of type {kind!r}, which the robustness audit does not support; "
        f"supported suite types: {', '.join(SUPPORTED_TYPES)} (e.g. medqa_usmle, medmcqa, mmlu_medical, pubmedqa, ner_ncbi_disease)"
    )


def adapter_for(suite, docs: list[dict]):
    check_supported(suite)
    return QAAdapter(docs, suite.name) if suite.spec.type == "multiple_choice" else NERAdapter(docs)
