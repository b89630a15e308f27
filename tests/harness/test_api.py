"""``import medtune``: the Python API end to end, with the mock backend and the tiny model."""

import pytest

import medtune
from harness.errors import MedtuneError
from harness.results import Metric
from harness.store.runs import results_table
from harness.store import Store


def test_evaluate_with_the_mock_backend_then_cached(data_root, db):
    first = medtune.evaluate("mock-model", ["medqa_usmle", "pubmedqa"], backend="mock", limit=4, db=db,
                             data_root=data_root)
    assert [(r.variant, r.suite, r.status) for r in first] == [("mock-model", "medqa_usmle", "ran"),
                                                                ("mock-model", "pubmedqa", "ran")]
    acc = first[0].metrics["acc"]
    assert isinstance(acc, Metric) and acc.n == 4 and 0 <= acc.value <= 1
    again = medtune.evaluate("mock-model", ["medqa_usmle", "pubmedqa"], backend="mock", limit=4, db=db,
                             data_root=data_root)
    assert [r.status for r in again] == ["cached", "cached"] and [r.run_id for r in again] == [r.run_id for r in first]
    assert again[0].metrics == first[0].metrics


def test_evaluate_the_tiny_model_as_the_cli_does(tiny_causal, data_root, db):
    results = medtune.evaluate(str(tiny_causal), "medqa_usmle", limit=3, name="tiny", db=db, data_root=data_root)
    row = results_table(Store(db), variants=["tiny"], suites=["medqa_usmle"])
    table = dict(zip(row["metric"], row["value"]))
    assert results[0].variant == "tiny" and results[0].metrics["acc"].value == pytest.approx(table["acc"])


def test_bad_settings_raise_before_any_work(data_root, db):
    with pytest.raises(MedtuneError, match="--limit 0"):
        medtune.evaluate("x", "medqa_usmle", backend="mock", limit=0, db=db, data_root=data_root)
    with pytest.raises(MedtuneError, match="--backend nope"):
        medtune.evaluate("x", "medqa_usmle", backend="nope", db=db, data_root=data_root)
    assert not db.exists()


def test_gate_on_mock_results(data_root, db, tmp_path):
    medtune.evaluate("cand", "medqa_usmle", backend="mock", limit=6, db=db, data_root=data_root)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nrules:\n  - rule: min_score\n    suite: medqa_usmle\n    metric: acc\n    min: 0.0\n")
    report = medtune.gate("cand", policy, db=db, record=False)
    assert report.passed and len(report.results) == 1
    # (a min above 1 for a share is refused as a rule that could never pass: 1.0 fails on mock acc 0.17 of 6)
    policy.write_text("version: 1\nrules:\n  - rule: min_score\n    suite: medqa_usmle\n    metric: acc\n    min: 1.0\n")
    assert not medtune.gate("cand", policy, db=db, record=False).passed


def test_the_api_is_documented():
    for name in ("evaluate", "tune", "audit_leakage", "audit_robustness", "gate", "register_backend"):
        assert getattr(medtune, name).__doc__, name
