"""Stored runs of models that learned only a prior, and of one that learned the task (no model is loaded).

``siqa`` is a SIQA-style suite with letter options (" A", " B", " C" on every item); 50 items whose gold
answers are A on 21, B on 15, C on 14. Variants, children of ``base``:

- ``collapsed`` answers A on every item (acc 0.42: exactly the share of gold A), 98% sure each time; its
  acc_norm falls from the base's 0.60 to 0.16;
- ``reader`` answers right on 40 items, 80% sure each time (well calibrated);
- ``base`` answers right on 15, half sure.

``write_pubmedqa`` stores the demo's story: a parent near chance and a child answering "yes" to every item.
Every metric row is computed by the multiple-choice type's own declarations (``harness.metrics``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np

from harness.store import Store
from harness.store.records import MetricRow, RunRecord, SampleRow, SuiteRecord, insert
from harness.store.variants import register_variant

T0 = datetime(2027, 3, 1, 9, 0)
N = 50
GOLD = np.random.default_rng(7).permutation([0] * 21 + [1] * 15 + [2] * 14)


def probabilities(pred: int, sure: float, k: int) -> np.ndarray:
    p = np.full(k, (1 - sure) / (k - 1))
    p[pred] = sure
    return p


def samples(golds, preds, norm_right, sure: float, options: list[str], doc: str = "siqa") -> list[dict]:
    """Rows as a multiple-choice run stores them: acc from the prediction, acc_norm given, the options'
    probabilities from ``sure`` (confidence and Brier score as ``MultipleChoice.score`` computes them)."""
    out = []
    for i, (gold, pred, norm) in enumerate(zip(golds, preds, norm_right)):
        p = probabilities(int(pred), sure, len(options))
        brier = float(np.sum((p - (np.arange(len(p)) == gold)) ** 2))
        out.append({"doc_id": f"{doc}-{i:03d}", "target": str(int(gold)), "prediction": str(int(pred)),
                    "correct": bool(pred == gold), "score": float(pred == gold),
                    "scores": {"acc": float(pred == gold), "acc_norm": float(norm), "confidence": float(p[pred]),
                               "brier": brier},
                    "record": {"prompt": f"Question {i}\nAnswer:", "options": options,
                               "loglikelihoods": np.log(p).round(6).tolist()}})
    return out


def write_run(con, run_id: str, variant: str, suite: str, rows: list[dict], when: datetime,
              family: str = "general") -> None:
    from suites._types.multiple_choice import MultipleChoice

    insert(con, [SuiteRecord(name=suite, version_hash="v1", family=family, type="multiple_choice",
                             spec=json.dumps({"metrics": ["acc", "acc_norm"]}))], mode="OR IGNORE")
    insert(con, [RunRecord(run_id=run_id, run_key=run_id, variant=variant, suite=suite, suite_hash="v1",
                           engine="native", settings="{}", model="{}", n_samples=len(rows), started_at=when,
                           finished_at=when + timedelta(minutes=1), duration_s=60.0)])
    items = [r["scores"] for r in rows]
    insert(con, [MetricRow(run_id=run_id, metric=m.name, value=m.value, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n,
                           higher_is_better=m.higher_is_better)
                 for m in (d.measure(items) for d in MultipleChoice.metrics) if m is not None])
    insert(con, [SampleRow(run_id=run_id, sample_idx=i, doc_id=r["doc_id"], target=r["target"],
                           prediction=r["prediction"], correct=r["correct"], score=r["score"],
                           scores=json.dumps(r["scores"]), record=json.dumps(r["record"]))
                 for i, r in enumerate(rows)])


def _wrong(gold: int, k: int = 3) -> int:
    return (gold + 1) % k


def build(path) -> Store:
    store = Store(path)
    letters = [" A", " B", " C"]
    idx = np.arange(N)
    base_pred = np.where(idx < 15, GOLD, [_wrong(g) for g in GOLD])
    base_norm = idx < 30
    reader_pred = np.where(idx < 40, GOLD, [_wrong(g) for g in GOLD])
    with store.connect(write=True) as con:
        for name, parent in (("base", None), ("collapsed", "base"), ("reader", "base")):
            register_variant(store, name, f"/models/{name}", "causal", method="sft" if parent else "base",
                             parent=parent, con=con)
        write_run(con, "siqa-base", "base", "siqa", samples(GOLD, base_pred, base_norm, 0.5, letters), T0)
        write_run(con, "siqa-collapsed", "collapsed", "siqa",
                  samples(GOLD, np.zeros(N, int), idx < 8, 0.98, letters), T0 + timedelta(hours=1))
        write_run(con, "siqa-reader", "reader", "siqa",
                  samples(GOLD, reader_pred, idx < 40, 0.8, letters), T0 + timedelta(hours=2))
    return store


#: PubMedQA-like: 100 items, 55 "yes", 30 "no", 15 "maybe" (options in this order on every item)
PUBMEDQA_GOLD = np.random.default_rng(11).permutation([0] * 55 + [1] * 30 + [2] * 15)


def write_pubmedqa(store: Store, parent: str = "smollm2-135m", child: str = "demo_sft_pubmedqa") -> None:
    """The demo's story: the parent reads PubMedQA near chance (acc 0.35, acc_norm 0.53); the child answers
    "yes" to all 100 items (acc 0.55, the share of "yes"), and its acc_norm falls to 0.27."""
    gold = PUBMEDQA_GOLD
    idx = np.arange(len(gold))
    parent_pred = np.array([g if i % 20 < 7 else (g + 1) % 3 for i, g in enumerate(gold)])  # right on 35
    parent_norm = idx < 53
    child_norm = idx < 27
    options = [" yes", " no", " maybe"]
    with store.connect(write=True) as con:
        register_variant(store, parent, "/models/parent", "causal", con=con)
        register_variant(store, child, "/models/child", "causal", method="sft", parent=parent, con=con)
        write_run(con, "pqa-parent", parent, "pubmedqa",
                  samples(gold, parent_pred, parent_norm, 0.4, options, "pqa"), T0, family="medical_qa")
        write_run(con, "pqa-child", child, "pubmedqa",
                  samples(gold, np.zeros(len(gold), int), child_norm, 0.7, options, "pqa"), T0 + timedelta(hours=1),
                  family="medical_qa")
