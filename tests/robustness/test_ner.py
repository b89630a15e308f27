"""NER audit: only non-entity words are perturbed (entities stay aligned); fragile tagger flagged, stable not."""

from __future__ import annotations

import sys

import pytest

from harness.robustness import run_audit
from harness.robustness._adapters import NERAdapter
from harness.robustness._perturbations import PERTURBATIONS
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


def _perturb(docs, key: str, seed: int = 0) -> dict[int, dict]:
    return NERAdapter(docs).perturb(lambda text: PERTURBATIONS[key](text, seed))


def test_perturbation_leaves_entity_words_and_alignment(suite):
    docs = _docs(3)
    changed = _perturb(docs, "uppercase")
    for i, doc in changed.items():
        assert doc["words"][3] == docs[i]["words"][3] and doc["tags"] == docs[i]["tags"]
        assert doc["words"][:3] == ["THE", "PATIENT", "WITH"]
    doc = _perturb(docs, "punctuation")[0]
    assert "," not in doc["words"] and len(doc["words"]) == len(doc["tags"]) and doc["tags"][3] == "B-Disease"
    assert _perturb(docs, "numbers")[2]["words"][7:10] == ["clinic", "two", ","]  # the '2' of sentence 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_typos_never_touch_entity_words(seed):
    docs = _docs(40)
    changed = _perturb(docs, "typos", seed)
    assert len(changed) >= 10  # the 'was seen in clinic' runs are long enough to get typos
    for i, doc in changed.items():
        entity = [w for w, t in zip(doc["words"], doc["tags"]) if t != "O"]
        assert entity == [docs[i]["words"][3]] and len(doc["words"]) == len(doc["tags"])
    assert _perturb(docs, "typos", seed) == changed  # same documents, same seed: same typos


def test_fragile_tagger_flagged_stable_not_without_giskard(suite, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "giskard", None)
    perts = ["uppercase", "titlecase", "punctuation"]
    fragile = run_audit(suite, FragileTagger(), _docs(), "fragile-ner", perturbations=perts, report_dir=tmp_path)
    stable = run_audit(suite, StableTagger(), _docs(), "stable-ner", perturbations=perts, report_dir=tmp_path)
    assert set(fragile.flagged) == {"Transform to uppercase", "Transform to title case"}
    assert fragile.metric == "f1" and stable.clean_value == pytest.approx(2 / 3)  # 'clinic' is a false positive
    up = next(p for p in fragile.perturbations if p.perturbation == "Transform to uppercase")
    assert up.flip_rate == 1.0 and up.delta < 0 and up.clean_value == 1.0
    assert stable.flagged == [] and fragile.giskard_issues is stable.giskard_issues is None


def test_giskard_scan_flags_the_fragile_tagger(suite, tmp_path):
    pytest.importorskip("giskard")
    perts = ["uppercase", "titlecase", "punctuation"]
    fragile = run_audit(suite, FragileTagger(), _docs(), "fragile-ner", perturbations=perts, report_dir=tmp_path)
    stable = run_audit(suite, StableTagger(), _docs(), "stable-ner", perturbations=perts, report_dir=tmp_path)
    assert "Transform to uppercase" in fragile.giskard_flagged and stable.giskard_issues == []
