"""Golden per-sample results: the tiny fixture models on the first items of shipped suites.

``python -m tests.golden.cases`` (with MEDTUNE_DATA set) rewrites ``golden.json``; do that only when a
change of scores is intended and explained in the commit. ``tests/harness/test_golden.py`` compares."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).with_name("golden.json")
# (suite, documents scored, options): causal suites of every request kind the tiny Llama answers
CASES = [
    ("medqa_usmle", 4, {}),
    ("medmcqa", 4, {}),
    ("pubmedqa", 3, {}),
    ("mmlu_medical", 4, {}),
    ("mmlu_medical_5shot", 2, {}),
    ("arc_easy", 4, {}),
    ("winogrande", 3, {}),
    ("hellaswag", 2, {}),
    ("lambada", 4, {}),
    ("wikitext2", 1, {}),
]


def _clean(value):
    """JSON-safe, rounded so the file is stable: floats to 7 significant digits."""
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.7g}")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def score_case(lm, data_root: Path, suite_name: str, n: int, options: dict) -> dict:
    from harness.engine import run_suite
    from suites import load_suite

    suite = load_suite(suite_name, options)
    docs = suite.docs(data_root, n)
    run = run_suite(suite, lm, docs, seed=1234)
    return {
        "samples": [_clean({"doc_id": s.doc_id, "target": s.target, "prediction": s.prediction,
                            "correct": s.correct, "score": s.score, "scores": s.scores,
                            "loglikelihoods": s.record.get("loglikelihoods")}) for s in run.samples],
        "metrics": {m.name: _clean(m.value) for m in run.metrics},
    }


def compute(tiny_causal: Path, data_root: Path) -> dict:
    from harness.models import load, resolve

    lm = load(resolve(str(tiny_causal)), device="cpu", dtype="float32", batch_size=4)
    return {name: score_case(lm, data_root, name, n, opts) for name, n, opts in CASES}


if __name__ == "__main__":
    from tests.tiny_models import make_tiny_causal

    root = Path(os.environ["MEDTUNE_DATA"])
    model = make_tiny_causal(Path(tempfile.mkdtemp()) / "tiny-llama")
    GOLDEN.write_text(json.dumps(compute(model, root), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
