"""Each variant's latest score against its parent's on the same items: the paired change and its p-value.

For the overview's marks. Per-item scores are read from ``samples.scores`` (the metric's value per
item); all-0/1 values get McNemar, others the paired bootstrap of the mean (``harness.stats``).
Corpus metrics (F1, perplexity) have no per-item value and get no mark. Two runs over different items
are not compared.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from harness.stats import mcnemar_test, paired_bootstrap
from harness.store import Store
from harness.store.runs import sample_scores

ALPHA = 0.01
COLUMNS = ["variant", "parent", "suite", "metric", "parent_value", "value", "delta", "p_value", "test", "n", "mark"]


def _items(store: Store, run_id: str, metric: str) -> dict[str, float]:
    df = sample_scores(store, run_id)
    out = {}
    for doc_id, scores in zip(df["doc_id"].astype(str), df["scores"]):
        item = json.loads(scores) if isinstance(scores, str) else (scores or {})
        value = item.get(metric)
        if isinstance(value, (int, float)):  # bool counts as 0/1
            out[doc_id] = float(value)
    return out


def mark(delta: float, p: float, higher_is_better: bool = True, alpha: float = ALPHA) -> str:
    """``better`` / ``worse`` when the change is significant at ``alpha``, else ``n.s.``."""
    if p is None or p != p or p >= alpha:
        return "n.s."
    return "better" if (delta > 0) == higher_is_better else "worse"


def vs_parent(store: Store, scores: pd.DataFrame, variants: pd.DataFrame | None, metric: str,
              higher_is_better: bool = True, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (variant with a scored parent, suite): parent value, value, delta, p, test, n, mark."""
    rows = []
    if variants is None or variants.empty:
        return pd.DataFrame(columns=COLUMNS)
    parents = {r.name: r.parent for r in variants.itertuples() if r.parent}
    view = scores[scores["metric"] == metric]
    runs = {(r.variant, r.suite): r.run_id for r in view.itertuples()}
    for (variant, suite), run_id in runs.items():
        parent = parents.get(variant)
        if parent is None or (parent, suite) not in runs:
            continue
        a, b = _items(store, run_id, metric), _items(store, runs[(parent, suite)], metric)
        if not a or set(a) != set(b):
            continue
        keys = sorted(a)
        va, vb = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
        binary = np.isin(np.concatenate([va, vb]), (0.0, 1.0)).all()
        cmp = mcnemar_test(va, vb) if binary else paired_bootstrap(va, vb)
        rows.append({"variant": variant, "parent": parent, "suite": suite, "metric": metric,
                     "parent_value": float(vb.mean()), "value": float(va.mean()), "delta": float(va.mean() - vb.mean()),
                     "p_value": cmp.p_value, "test": cmp.test, "n": len(keys),
                     "mark": mark(va.mean() - vb.mean(), cmp.p_value, higher_is_better, alpha)})
    return pd.DataFrame(rows, columns=COLUMNS)


def style(df: pd.DataFrame):
    """Green rows for a significant gain, red for a significant loss (a pandas Styler for st.dataframe)."""
    colours = {"better": "background-color: #d4f4dd", "worse": "background-color: #f9d6d5"}

    def row_style(row):
        return [colours.get(row["mark"], "")] * len(row)

    formats = {"parent_value": "{:.3f}", "value": "{:.3f}", "variant_value": "{:.4g}", "reference_value": "{:.4g}",
               "delta": "{:+.4f}", "ci_low": "{:+.4f}", "ci_high": "{:+.4f}", "p_value": "{:.2g}"}
    return df.style.apply(row_style, axis=1).format({k: v for k, v in formats.items() if k in df.columns})
