"""Named-entity recognition scored by entity-level strict F1 (IOB2), with seqeval.

Documents carry ``words`` and gold ``tags``; one ``token_labels`` request per sentence. Each
sample stores the sentence's entity counts (tp/fp/fn, overall and per entity type) so that
corpus-level precision/recall/F1 and their bootstrap CIs over sentences come from sums of
counts; entities are seqeval's strict IOB2 chunks, so the corpus F1 equals
``seqeval.metrics.f1_score(mode="strict", scheme=IOB2)`` (a test checks it).
Tags repaired while reading (I- after O -> B-) are counted in the ``repairs`` metric.
"""

from __future__ import annotations

import sys

import numpy as np

from harness import contract
from harness.errors import MedtuneError
from harness.metrics import CORPUS, MetricDef, declare
from harness.results import Metric, Sample
from suites._types.base import SuiteType


def entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """Strict IOB2 chunks as (type, start, end) with ``end`` exclusive (seqeval's own parser)."""
    from seqeval.scheme import IOB2, Entities

    return {(e.tag, e.start, e.end) for e in Entities([list(tags)], IOB2).entities[0]}


def prf_from_counts(tp, fp, fn, axis=-1):
    """(precision, recall, F1) of summed counts; 0 where undefined (seqeval's zero_division=0)."""
    tp, fp, fn = (np.sum(x, axis=axis) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        r = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return p, r, f


def f1_from_counts(tp, fp, fn, axis=-1):
    return prf_from_counts(tp, fp, fn, axis)[2]


def precision_from_counts(tp, fp, fn, axis=-1):
    return prf_from_counts(tp, fp, fn, axis)[0]


def recall_from_counts(tp, fp, fn, axis=-1):
    return prf_from_counts(tp, fp, fn, axis)[1]


COUNTS = ("tp", "fp", "fn")


def sentence_counts(gold: set, pred: set, types: list[str]) -> dict[str, float]:
    counts = {"tp": len(gold & pred), "fp": len(pred - gold), "fn": len(gold - pred)}
    for t in types:
        g, p = {e for e in gold if e[0] == t}, {e for e in pred if e[0] == t}
        counts.update({f"tp_{t}": len(g & p), f"fp_{t}": len(p - g), f"fn_{t}": len(g - p)})
    return {k: float(v) for k, v in counts.items()}


class NER(SuiteType):
    request_kinds = ("token_labels",)
    model_kinds = ("encoder",)
    #: corpus scores from summed counts, overall and per entity type (``f1_Disease`` from ``tp_Disease``...);
    #: ``repairs`` counts IOB2 tags repaired while reading the data (reported, never compared)
    metrics = declare(MetricDef("f1", COUNTS, f1_from_counts, test=CORPUS, per_label=True),
                      MetricDef("precision", COUNTS, precision_from_counts, test=CORPUS, per_label=True),
                      MetricDef("recall", COUNTS, recall_from_counts, test=CORPUS, per_label=True),
                      MetricDef("repairs", (), None, higher_is_better=False, test=None, always=True))

    def __init__(self, suite):
        super().__init__(suite)
        self._labels: list[str] | None = None

    def labels(self, docs: list[dict] | None = None) -> list[str]:
        """The data's label set: from ``docs``, else from the suite's whole evaluation file."""
        from suites.ner.conll import label_set

        if docs is not None:
            return label_set({t for d in docs for t in d["tags"]})
        if self._labels is None:
            root = self.suite.data_root
            self._labels = self.labels(self.suite.load_docs(root)) if root is not None else []
        return self._labels

    def check_model(self, lm, docs: list[dict] | None = None) -> None:
        """The model's label set must equal the data's: a clear error before any scoring."""
        want = self.labels(docs)
        have = lm.info.extra.get("labels")
        if have is None or set(have) == set(want):
            return
        hint = " (it has no trained NER head: tune one with method ner_head)" if all(l.startswith("LABEL_") for l in have) else ""
        raise MedtuneError(f"suite {self.suite.name}: model {lm.info.name} predicts labels {sorted(have)}, "
                           f"the data has {sorted(want)}{hint}")

    def requests(self, doc_index, doc):
        return [contract.token_labels(doc_index, doc["words"])]

    def score(self, doc, responses):
        pred_tags = list(responses["token_labels"][0])
        gold_tags = list(doc["tags"])
        if len(pred_tags) != len(gold_tags):
            raise MedtuneError(f"{doc['id']}: the model returned {len(pred_tags)} labels for {len(gold_tags)} words")
        labels = self.labels() or sorted(set(gold_tags) | {"O"})
        stray = sorted(set(pred_tags) - set(labels))
        if stray:  # the engine's check_model catches this before scoring; this guards other callers
            raise MedtuneError(f"suite {self.suite.name}: the model predicts label {stray[0]!r}, not in the data's "
                               "label set: is it trained for this corpus?")
        gold, pred = entities(gold_tags), entities(pred_tags)
        types = sorted({t[2:] for t in labels if t != "O"})
        counts = sentence_counts(gold, pred, types)
        _, _, f1 = prf_from_counts([counts["tp"]], [counts["fp"]], [counts["fn"]])
        span = lambda e: {"type": e[0], "start": e[1], "end": e[2], "text": " ".join(doc["words"][e[1]:e[2]])}
        return Sample(
            doc_id=str(doc["id"]),
            target=" ".join(gold_tags),
            prediction=" ".join(pred_tags),
            correct=gold == pred,
            score=float(f1) if gold or pred else 1.0,
            scores=counts,
            record={"words": doc["words"], "gold": gold_tags, "predicted": pred_tags,
                    "entities": {"gold": [span(e) for e in sorted(gold, key=lambda e: e[1])],
                                 "predicted": [span(e) for e in sorted(pred, key=lambda e: e[1])]},
                    "repairs": doc.get("repairs", [])},
        )

    def metric_names(self, samples: list[Sample]) -> list[str]:
        """precision/recall/F1 overall, and per entity type when there are several."""
        types = sorted(k[3:] for k in (samples[0].scores if samples else {}) if k.startswith("tp_"))
        per_label = [d.name for d in self.metrics if d.per_label]
        return [f"{name}{suffix}" for suffix in [""] + ([f"_{t}" for t in types] if len(types) > 1 else [])
                for name in per_label]  # one type: same as overall

    def aggregate(self, samples: list[Sample], seed: int = 0) -> list[Metric]:
        """precision/recall/F1 overall and per entity type, CIs by resampling sentences; repairs."""
        out = super().aggregate(samples, seed)
        repairs = sum(len(s.record.get("repairs", [])) for s in samples)
        out.append(Metric("repairs", float(repairs), None, None, len(samples),
                          self.metrics.get("repairs").higher_is_better))
        if repairs:
            first = next(r for s in samples for r in s.record.get("repairs", []))
            print(f"{self.suite.name}: {repairs} IOB2 repair(s) in the data (I- tag not continuing an entity "
                  f"-> B-), e.g. {first}", file=sys.stderr)
        return out
