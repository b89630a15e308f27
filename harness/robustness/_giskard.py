"""The giskard side: wrap the scorer as a giskard 2 Model and the suite as a Dataset, scan, report.

Only giskard's non-LLM detectors run (nothing leaves the machine; analytics are switched off):
text perturbations, performance bias across slices, over- and under-confidence. giskard's slice
detectors skip datasets under 100 items (its own statistical floor); the audit records which ran.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

import pandas as pd

from harness.robustness._predictor import ITEM

TARGET = "target"
DETECTORS = {
    "classification": ["text_perturbation", "performance_bias", "overconfidence", "underconfidence"],
    "regression": ["text_perturbation", "performance_bias"],
}
SLICE_MIN_ITEMS = 100  # giskard LossBasedDetector.MIN_DATASET_LENGTH


def import_giskard():
    os.environ["GSK_DISABLE_ANALYTICS"] = "True"
    import giskard

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("giskard")] + ["giskard"]:
        logging.getLogger(name).setLevel(logging.WARNING)  # its scanner logger is set to INFO on import
    return giskard


def build(adapter, scorer, name: str):
    """(giskard Model, giskard Dataset, scan features) for the adapter's documents."""
    giskard = import_giskard()
    docs = adapter.docs
    frame = pd.DataFrame({
        ITEM: [str(i) for i in range(len(docs))],
        adapter.text_column: [adapter.text(d) for d in docs],
        TARGET: [adapter.target(d) for d in docs],
    })
    column_types = {ITEM: "category", adapter.text_column: "text"}
    features = [adapter.text_column]
    groups = [str(d.get("group")) for d in docs]
    if "group" in docs[0] and len(set(groups)) > 1:  # e.g. MMLU subject: a natural slice
        frame["group"] = groups
        column_types["group"] = "category"
        features.append("group")
    model = giskard.Model(
        model=scorer.predict_frame,
        model_type=adapter.model_type,
        classification_labels=adapter.labels,
        feature_names=[c for c in frame.columns if c != TARGET],
        name=name,
    )
    dataset = giskard.Dataset(frame, target=TARGET, column_types=column_types, name=name)
    return model, dataset, features


def scan(model, dataset, features, adapter, transformations, threshold: float):
    giskard = import_giskard()
    only = DETECTORS[adapter.model_type]
    if len(dataset.df) < SLICE_MIN_ITEMS:
        only = ["text_perturbation"]
    params = {"text_perturbation": {"transformations": list(transformations), "threshold": threshold,
                                    "num_samples": len(dataset.df)}}
    # giskard's model-validation hints and prints ("successfully validated") are noise next to our table
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", UserWarning)
        results = giskard.scan(model, dataset, features=features, only=only, params=params, verbose=False,
                               raise_exceptions=True)
    return results, only


def issues_json(results) -> list[dict]:
    out = []
    for issue in results.issues:
        meta = issue.meta
        out.append({
            "detector": issue.detector_name,
            "group": issue.group.name,
            "level": str(getattr(issue.level, "value", issue.level)),
            "transformation": str(issue.transformation_fn) if issue.transformation_fn else None,
            "slice": str(issue.slicing_fn) if issue.slicing_fn else None,
            "metric": meta.get("metric"),
            "metric_value": _plain(meta.get("metric_value")),
            "deviation": meta.get("deviation"),
            "description": issue.description,
        })
    return out


def save_html(results, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    results.to_html(str(path))
    return path


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None if value is None else str(value)
