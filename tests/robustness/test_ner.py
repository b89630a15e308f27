"""NER audit: only non-entity words are perturbed (entities stay aligned); fragile tagger flagged, stable not."""

from __future__ import annotations

import pytest

from harness.robustness import run_audit
from harness.robustness._adapters import NERAdapter
from harness.robustness._perturbations import apply, transformation_classes
from suites import load_suite
from tests.robustness.fake_models import FragileTagger, StableTagger

DISEASES = ["diabetes", "asthma", "anemia", "hepatitis"]


def _docs(n=20):
    docs = []
    for i in range(n):
        words = ["The", "patient", "with", DISEASES[i % 4], "was", "seen", "in", "clinic", str(i), ",", "stable", "."]
        tags = ["O"] * len(words)
        tags[3] = "B-Disease"
        docs.append({"id": f"s{i}", "words": words, "tags": tags})
    return docs


@pytest.fixture(scope="module")
def suite():
    return load_suite("ner_ncbi_disease")


def test_perturbation_leaves_entity_words_and_alignment(suite):
    docs = _docs(3)
    (upper,) = transformation_classes(["uppercase"])
    changed = NERAdapter(docs).perturb(apply(upper))
    for i, doc in changed.items():
        assert doc["words"][3] == docs[i]["words"][3] and doc["tags"] == docs[i]["tags"]
        assert doc["words"][:3] == ["THE", "PATIENT", "WITH"]
    (punct,) = transformation_classes(["punctuation"])
    doc = NERAdapter(docs).perturb(apply(punct))[0]
    assert "," not in doc["words"] and len(doc["words"]) == len(doc["tags"]) and doc["tags"][3] == "B-Disease"


def test_fragile_tagger_flagged_stable_not(suite, tmp_path):
    perts = ["uppercase", "titlecase", "punctuation"]
    fragile = run_audit(suite, FragileTagger(), _docs(), "fragile-ner", perturbations=perts, report_dir=tmp_path)
    stable = run_audit(suite, StableTagger(), _docs(), "stable-ner", perturbations=perts, report_dir=tmp_path)
    assert set(fragile.flagged) == {"Transform to uppercase", "Transform to title case"}
    assert fragile.metric == "f1" and stable.clean_value == pytest.approx(2 / 3)  # 'clinic' is a false positive
    up = next(p for p in fragile.perturbations if p.perturbation == "Transform to uppercase")
    assert up.flip_rate == 1.0 and up.delta < 0 and up.clean_value == 1.0
    assert stable.flagged == [] and stable.giskard_issues == []
    assert "Transform to uppercase" in fragile.giskard_flagged
