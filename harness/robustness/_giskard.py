"""The optional giskard side: wrap the scorer as a giskard 2 Model and the suite as a Dataset, scan, report.

giskard 2 is the extra ``medtune[giskard]`` (Python 3.11, numpy<2); without it the audit runs its
paired perturbations alone and records that the scan did not run. Only giskard's non-LLM detectors
run (nothing leaves the machine; analytics are switched off): text perturbations (medtune's own,
wrapped as giskard transformations), performance bias across slices, over- and under-confidence.
giskard's slice detectors skip datasets under 100 items (its own statistical floor); the audit
records which ran.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import warnings
from pathlib import Path

import pandas as pd

from harness.errors import MedtuneError
from harness.robustness._predictor import ITEM

TARGET = "target"
DETECTORS = {
    "classification": ["text_perturbation", "performance_bias", "overconfidence", "underconfidence"],
    "regression": ["text_perturbation", "performance_bias"],
}
SLICE_MIN_ITEMS = 100  # giskard LossBasedDetector.MIN_DATASET_LENGTH
INSTALL = "pip install 'medtune[giskard]' (giskard 2 needs Python 3.11 and numpy<2)"


def missing() -> str | None:
    """Why giskard's scan cannot run here, or None. Looked up, not imported (importing giskard takes seconds); a
    giskard 2 left beside numpy 2 (an environment moved to a newer lock) counts as missing: it fails at import."""
    try:
        found = importlib.util.find_spec("giskard") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return f"giskard is not installed; install it with {INSTALL}"
    import numpy

    if int(numpy.__version__.split(".")[0]) >= 2:
        return (f"giskard 2 is installed but this environment has numpy {numpy.__version__} (it needs numpy<2); "
                f"use a Python 3.11 environment with {INSTALL}")
    return None


def available() -> bool:
    return missing() is None


def wanted(giskard_scan: bool | None) -> bool:
    """Whether the scan runs: ``None`` when giskard is installed; ``True`` demands it (a clear error
    without giskard, before any work); ``False`` never."""
    if giskard_scan is None:
        return available()
    why = missing() if giskard_scan else None
    if why:
        raise MedtuneError(f"--giskard-scan: {why}")
    return giskard_scan


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


def transformations(perturbations, seed: int) -> list[type]:
    """giskard text-transformation classes applying medtune's perturbations with the audit's seed, so
    the scan perturbs exactly as the paired audit did (and finds those rows already scored)."""
    from giskard.scanner.robustness.text_transformations import TextTransformation

    def make_perturbation(self, text: str) -> str:
        return self.perturbation(text, self.seed)

    return [type(f"Medtune_{p.key}", (TextTransformation,),
                 {"name": p.name, "perturbation": p, "seed": seed, "make_perturbation": make_perturbation})
            for p in perturbations]


def scan(model, dataset, features, adapter, perturbations, threshold: float, seed: int = 0):
    giskard = import_giskard()
    only = DETECTORS[adapter.model_type]
    if len(dataset.df) < SLICE_MIN_ITEMS:
        only = ["text_perturbation"]
    params = {"text_perturbation": {"transformations": transformations(perturbations, seed), "threshold": threshold,
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
