"""The local-model judge path once, on SmolLM2-135M-Instruct (built-in ``smollm2-135m``), on 2 conversations."""

import json

import pytest

from harness.evaluate import RunSettings, evaluate
from harness.store import Store

SUITE = "rubric_clinical_sample"


@pytest.mark.slow
def test_smollm2_judges_two_conversations(tmp_path):
    try:
        from harness.models.builtin import BUILTINS  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"no local model stack: {exc}")
    store = Store(tmp_path / "hf.duckdb")
    settings = RunSettings(backend="mock", limit=2, options={"chat_template": False, "judge": "hf:smollm2-135m"})
    r = evaluate("var-a", [SUITE], settings, store=store, data_root=tmp_path, echo=lambda *a: None)[0]
    recs = [json.loads(x) for x in store.query("SELECT record FROM samples WHERE run_id = ?", [r.run_id])["record"]]
    criteria = [c for rec in recs for c in rec["criteria"]]
    assert len(recs) == 2 and len(criteria) == 9
    # a 135M model is a poor judge: every criterion has a parsed verdict or an honest judge_failed, never a guess
    assert all((c["met"] in (True, False)) != c["judge_failed"] for c in criteria)
    assert 0.0 <= r.metrics["judge_failed"].value <= 1.0
    settings_json = json.loads(store.query("SELECT settings FROM runs")["settings"].iloc[0])
    assert "judge=hf:smollm2-135m" in settings_json["protocol"]["extraction"]
