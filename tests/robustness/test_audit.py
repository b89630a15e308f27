"""The robustness audit flags a model whose answers hinge on casing/punctuation, and not a stable one."""

from __future__ import annotations

import pytest

from harness.errors import MedtuneError
from harness.robustness import latest_audit, run_audit, save_audit
from harness.store import Store
from suites import load_suite
from tests.robustness.fake_models import FragileLM, StableLM

PERTURBATIONS = ["uppercase", "lowercase", "punctuation"]


def _docs(n=24):
    return [{"id": f"q{i}", "question": f"A {20 + i}-year-old Man presents with fever, cough; what is the Diagnosis (case {i})?",
             "choices": ["pneumonia", "asthma", "influenza", "sarcoidosis"], "gold": i % 4} for i in range(n)]


@pytest.fixture(scope="module")
def suite():
    return load_suite("medqa_usmle")


def test_fragile_model_is_flagged(suite, tmp_path):
    audit = run_audit(suite, FragileLM(), _docs(), "fragile", perturbations=PERTURBATIONS, report_dir=tmp_path)
    assert set(audit.flagged) == {"Transform to uppercase", "Transform to lowercase", "Punctuation Removal"}
    assert set(audit.giskard_flagged) == set(audit.flagged)  # giskard's scan agrees with the paired numbers
    by_name = {p.perturbation: p for p in audit.perturbations}
    assert by_name["Transform to uppercase"].n == 24 and by_name["Transform to uppercase"].flip_rate > 0.5
    assert audit.report_path and open(audit.report_path).read().count("<html") >= 1


def test_stable_model_is_not_flagged(suite, tmp_path, db):
    lm = StableLM()
    audit = run_audit(suite, lm, _docs(), "stable", perturbations=PERTURBATIONS, report_dir=tmp_path)
    assert audit.flagged == [] and audit.giskard_issues == []
    assert all(p.flip_rate == 0 and p.delta == 0 for p in audit.perturbations)
    # cached by text: 24 clean docs + 24 x 3 perturbed; giskard's scan re-asks all of them for free
    assert audit.settings["documents_scored"] == 24 * 4 and lm.calls == 24 * 4 * 4
    save_audit(Store(db), audit)
    row, perts = latest_audit(Store(db), "stable", "medqa_usmle")
    assert row.n[0] == 24 and sorted(perts.perturbation) == sorted(p.perturbation for p in audit.perturbations)


def test_unsupported_suite_type_names_supported(tmp_path):
    class Spec:
        type = "perplexity"

    class Suite:
        name, spec = "wikitext", Spec()

    with pytest.raises(MedtuneError, match="supported suite types: multiple_choice, ner"):
        run_audit(Suite(), StableLM(), [{"id": 1, "text": "x"}], "v", report_dir=tmp_path)


def test_multiple_choice_without_question_text_is_refused():
    suite = load_suite("medqa_usmle")
    docs = [{"id": 1, "contexts": ["a", "b"], "choices": ["a", "b"], "gold": 0}]
    with pytest.raises(MedtuneError, match="no question text to perturb"):
        run_audit(suite, StableLM(), docs, "v")


@pytest.mark.slow
def test_slice_and_calibration_detectors_run_on_100_plus_items(suite, tmp_path):
    docs = [{**d, "id": f"q{i}", "question": d["question"].replace("Man", "woman" if i % 3 == 0 else "man")}
            for i, d in enumerate(_docs(120))]
    audit = run_audit(suite, StableLM(), docs, "stable", perturbations=["uppercase"], report_dir=tmp_path)
    assert audit.detectors == ["text_perturbation", "performance_bias", "overconfidence", "underconfidence"]
    assert all(i["detector"] != "TextPerturbationDetector" for i in audit.giskard_issues)


def test_interrupted_audit_resumes_from_partial_file(suite, tmp_path):
    partial = tmp_path / "partial.jsonl"
    first = StableLM()
    run_audit(suite, first, _docs(8), "stable", perturbations=["uppercase"], partial_path=partial)
    again = StableLM()
    audit = run_audit(suite, again, _docs(8), "stable", perturbations=["uppercase", "lowercase"], partial_path=partial)
    assert audit.settings["documents_resumed"] == 16 and again.calls == 8 * 4  # only the lowercase items are new
