"""The robustness audit flags a model whose answers hinge on casing/punctuation, and not a stable one.

The paired audit needs no giskard (``no_giskard`` hides it); the tests of giskard's scan skip without it.
"""

from __future__ import annotations

import sys

import pytest

from harness.errors import MedtuneError
from harness.robustness import latest_audit, run_audit, save_audit
from harness.store import Store
from suites import load_suite
from tests.robustness.fake_models import FragileLM, StableLM

PERTURBATIONS = ["uppercase", "lowercase", "punctuation"]
FLAGGED = {"Transform to uppercase", "Transform to lowercase", "Punctuation Removal"}


def _docs(n=24):
    return [{"id": f"q{i}", "question": f"A {20 + i}-year-old Man presents with fever, cough; what is the Diagnosis (case {i})?",
             "choices": ["pneumonia", "asthma", "influenza", "sarcoidosis"], "gold": i % 4} for i in range(n)]


@pytest.fixture(scope="module")
def suite():
    return load_suite("medqa_usmle")


@pytest.fixture
def no_giskard(monkeypatch):
    """As on an install without the giskard extra: ``import giskard`` fails, its spec is not found."""
    monkeypatch.setitem(sys.modules, "giskard", None)


def test_fragile_model_is_flagged_without_giskard(suite, tmp_path, no_giskard):
    audit = run_audit(suite, FragileLM(), _docs(), "fragile", perturbations=PERTURBATIONS, report_dir=tmp_path)
    assert set(audit.flagged) == FLAGGED
    by_name = {p.perturbation: p for p in audit.perturbations}
    assert by_name["Transform to uppercase"].n == 24 and by_name["Transform to uppercase"].flip_rate > 0.5
    # the scan did not run, and the audit says so
    assert audit.giskard_issues is None and audit.detectors == [] and audit.report_path is None
    assert audit.giskard_flagged == [] and not list(tmp_path.iterdir())
    assert audit.settings["giskard_scan"] == ("not run: giskard is not installed; install it with pip install "
                                              "'medtune[giskard]' (giskard 2 needs Python 3.11 and numpy<2)")


def test_stable_model_is_not_flagged_without_giskard(suite, db, no_giskard):
    lm = StableLM()
    audit = run_audit(suite, lm, _docs(), "stable", perturbations=PERTURBATIONS)
    assert audit.flagged == [] and audit.giskard_issues is None
    assert all(p.flip_rate == 0 and p.delta == 0 for p in audit.perturbations)
    # 24 clean docs + 24 x 3 perturbed, 4 options each
    assert audit.settings["documents_scored"] == 24 * 4 and lm.calls == 24 * 4 * 4
    save_audit(Store(db), audit)
    row, perts = latest_audit(Store(db), "stable", "medqa_usmle")
    assert row.n[0] == 24 and sorted(perts.perturbation) == sorted(p.perturbation for p in audit.perturbations)
    assert row.giskard_issues.isna()[0] and row.n_issues.isna()[0] and row.report_path.isna()[0]


def test_giskard_scan_asked_for_without_giskard_stops_before_model_work(suite, no_giskard):
    lm = StableLM()
    with pytest.raises(MedtuneError, match=r"--giskard-scan: giskard is not installed; install it with "
                                           r"pip install 'medtune\[giskard\]'"):
        run_audit(suite, lm, _docs(4), "stable", perturbations=["uppercase"], giskard_scan=True)
    assert lm.calls == 0


def test_no_giskard_scan_skips_it_even_when_installed(suite):
    audit = run_audit(suite, StableLM(), _docs(4), "stable", perturbations=["uppercase"], giskard_scan=False)
    assert audit.giskard_issues is None and audit.detectors == []
    assert audit.settings["giskard_scan"] == "not run: --no-giskard-scan"


def test_giskard_scan_agrees_with_the_paired_numbers(suite, tmp_path):
    pytest.importorskip("giskard")
    fragile = run_audit(suite, FragileLM(), _docs(), "fragile", perturbations=PERTURBATIONS, report_dir=tmp_path)
    assert set(fragile.flagged) == FLAGGED and set(fragile.giskard_flagged) == FLAGGED
    assert fragile.detectors == ["text_perturbation"] and fragile.settings["giskard_scan"] == "ran"
    assert fragile.report_path and open(fragile.report_path).read().count("<html") >= 1
    lm = StableLM()
    stable = run_audit(suite, lm, _docs(), "stable", perturbations=PERTURBATIONS + ["typos"], report_dir=tmp_path)
    # typos change the words the stable model hashes; giskard's scan sees that too, and nothing else
    assert stable.flagged == stable.giskard_flagged == ["Add typos"]
    # giskard's scan applies medtune's perturbations (typos too, same seed): it re-asks every row for free
    assert lm.calls == stable.settings["documents_scored"] * 4


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
    pytest.importorskip("giskard")
    docs = [{**d, "id": f"q{i}", "question": d["question"].replace("Man", "woman" if i % 3 == 0 else "man")}
            for i, d in enumerate(_docs(120))]
    audit = run_audit(suite, StableLM(), docs, "stable", perturbations=["uppercase"], report_dir=tmp_path)
    assert audit.detectors == ["text_perturbation", "performance_bias", "overconfidence", "underconfidence"]
    assert all(i["detector"] != "TextPerturbationDetector" for i in audit.giskard_issues)


def test_interrupted_audit_resumes_from_partial_file(suite, tmp_path, no_giskard):
    partial = tmp_path / "partial.jsonl"
    first = StableLM()
    run_audit(suite, first, _docs(8), "stable", perturbations=["uppercase"], partial_path=partial)
    again = StableLM()
    audit = run_audit(suite, again, _docs(8), "stable", perturbations=["uppercase", "lowercase"], partial_path=partial)
    assert audit.settings["documents_resumed"] == 16 and again.calls == 8 * 4  # only the lowercase items are new


def test_giskard_left_beside_numpy_2_counts_as_missing(monkeypatch):
    """An environment moved to a numpy-2 lock may still hold giskard 2, which fails at import: not available, and
    asking for the scan says why in one line."""
    import importlib.util

    import numpy

    from harness.robustness import _giskard

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "giskard" else None)
    monkeypatch.setattr(numpy, "__version__", "2.4.6")
    assert not _giskard.available() and _giskard.wanted(None) is False
    with pytest.raises(MedtuneError, match=r"giskard 2 is installed but this environment has numpy 2\.4\.6"):
        _giskard.wanted(True)
    monkeypatch.setattr(numpy, "__version__", "1.26.4")
    assert _giskard.available()
