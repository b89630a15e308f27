"""Tiny data roots and a helper that runs a shipped recipe with --set overrides on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tiny_models import TEXT

FAST = {"train.max_steps": 4, "train.grad_accum": 1, "train.eval_every": 2, "train.log_every": 1, "train.batch": 2,
        "train.seq_length": 32, "train.patience": None}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Corpus, ICD-10 rows, a PubMedQA-shaped file and a replay text, in the published formats."""
    root = tmp_path_factory.mktemp("data")
    (root / "corpus").mkdir()
    (root / "corpus" / "bio.txt").write_text("\n".join(TEXT * 3) + "\n")
    (root / "corpus" / "icd.tsv").write_text("A00\tCholera\t\nA00.0\tCholera due to Vibrio cholerae 01\tClassical cholera\n"
                                             "I21.9\tAcute myocardial infarction, unspecified\t\n" * 6)
    (root / "pubmedqa").mkdir()
    recs = {str(1000 + i): {"QUESTION": f"Do statins reduce mortality in group {i}?", "CONTEXTS": [TEXT[i % 8]],
                            "final_decision": ["yes", "no", "maybe"][i % 3], "LONG_ANSWER": "They do."}
            for i in range(24)}
    (root / "pubmedqa" / "ori_pqal.json").write_text(json.dumps(recs))
    (root / "pubmedqa" / "test_ground_truth.json").write_text(json.dumps({str(1000 + i): "yes" for i in range(8)}))
    (root / "general").mkdir()
    (root / "general" / "wikitext2_test.raw").write_text("The quick brown fox.\n" * 5)
    (root / "other").mkdir()
    (root / "other" / "replay.txt").write_text("Paris is the capital of France.\nThe lazy dog sleeps.\n" * 8)
    return root


@pytest.fixture(scope="session")
def tiny_causal_4bit(tmp_path_factory) -> Path:
    """The tiny Llama at hidden 64 / intermediate 128: shapes bitsandbytes' 4-bit CPU kernels take."""
    from tests.tiny_models import make_tiny_causal

    return make_tiny_causal(tmp_path_factory.mktemp("models") / "tiny-llama-64", hidden_size=64, intermediate_size=128)


@pytest.fixture()
def tune_recipe(tmp_path, tiny_data):
    """tune_recipe(recipe, base, **overrides) -> Outcome; the run's DB is ``tmp_path/results.duckdb``."""
    from harness.store import Store
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    def run(recipe: str, base, callbacks=(), force=False, echo=None, **sets):
        overrides = {**FAST, "base": str(base), **{k.replace("__", "."): v for k, v in sets.items()}}
        overrides.setdefault("output_dir", str(tmp_path / "variants" / overrides.get("name", recipe)))
        spec = load_recipe(recipe, overrides)
        ctx = TuneContext(store=Store(tmp_path / "results.duckdb"), data_root=tiny_data, output=spec.output_path(),
                          callbacks=list(callbacks), show_progress=False, echo=echo or (lambda m: None))
        return tune(spec, ctx, force=force)

    return run
