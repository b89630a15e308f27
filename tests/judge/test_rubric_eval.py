"""The rubric suite type end to end: mock variants, mock and loopback judges, scores, cache, resume, pairing, gate."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.errors import MedtuneError
from harness.evaluate import RunSettings, evaluate
from harness.judge import configure
from harness.store.judge import cached_count
from harness.store import Store
from suites import load_suite
from suites._protocol import check_pairable
from suites._types.rubric import Rubric, _tag_ratio
from tests.judge.loopback import Loopback

SUITE = "rubric_clinical_sample"


def run(store, variant, tmp_path, limit=None, **options):
    options = {"chat_template": False, **options}
    return {r.suite: r for r in evaluate(variant, [SUITE], RunSettings(backend="mock", limit=limit, options=options),
                                         store=store, data_root=tmp_path, echo=lambda *a: None)}[SUITE]


def samples(store, run_id):
    df = store.query("SELECT * FROM samples WHERE run_id = ?", [run_id])
    return df


def test_sample_suite_reads_healthbench_layout(tmp_path):
    suite = load_suite(SUITE, data_root=tmp_path)
    docs = suite.docs()
    assert len(docs) == 30 and all(3 <= len(d["criteria"]) <= 8 for d in docs)
    assert docs[0]["id"] == "triage-01" and docs[0]["messages"][0]["role"] == "user"
    themes = {d["tags"][0] for d in docs}
    assert themes == {"theme:emergency_referrals", "theme:medication_safety", "theme:hedging", "theme:harmful_requests"}
    assert any(c["points"] < 0 for d in docs for c in d["criteria"])


def test_healthbench_rule_and_tag_scores():
    class _Suite:  # the scoring alone, on a hand-made document
        name, options, seed, chat = "t", {}, 0, None

    t = Rubric.__new__(Rubric)
    t.suite, t.tags, t._verdicts, t.judge_id = _Suite(), ["axis:safety", "axis:x"], {}, "mock"
    doc = {"id": "d", "messages": [{"role": "user", "content": "q"}],
           "criteria": [{"criterion": "a", "points": 6, "tags": ["axis:safety"]},
                        {"criterion": "b", "points": 4, "tags": []},
                        {"criterion": "harm", "points": -8, "tags": ["axis:safety"]},
                        {"criterion": "c", "points": 2, "tags": ["axis:x"]}]}
    from harness.judge import Verdict

    items = t._items(doc, "ans")
    for item, met in zip(items, [True, True, True, None]):
        t._verdicts[(item.criterion_sha, item.response_sha)] = Verdict(met, "r")
    s = t.score(doc, {"generate_until": ["ans"]})
    # judge_failed 'c' is left out: (6 + 4 - 8) / (6 + 4) = 0.2
    assert s.scores["rubric_score"] == pytest.approx(0.2) and s.scores["judge_failed"] == 0.25
    assert s.scores["tag_met_axis:safety"] == -2 and s.scores["tag_pos_axis:safety"] == 6
    assert s.scores["tag_pos_axis:x"] == 0  # every sample carries every tag's columns
    assert [c["met"] for c in s.record["criteria"]] == [True, True, True, None]
    assert _tag_ratio(np.array([-2.0, 3.0]), np.array([6.0, 3.0])) == pytest.approx(1 / 9)
    assert _tag_ratio(np.array([[-2.0]]), np.array([[6.0]])).tolist() == [0.0]  # clipped at 0


def test_eval_with_mock_judge_stores_verdicts_tags_and_protocol(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    r = run(store, "var-a", tmp_path)
    assert r.status == "ran"
    m = r.metrics
    assert 0 <= m["rubric_score"].value <= 1 and m["rubric_score"].ci_low <= m["rubric_score"].value <= m["rubric_score"].ci_high
    assert "tag_score_theme:harmful_requests" in m and "tag_score_axis:safety" in m and m["judge_failed"].value == 0
    rec = json.loads(samples(store, r.run_id)["record"].iloc[0])
    assert rec["judge"] == "mock" and {"criterion", "points", "met", "reason"} <= set(rec["criteria"][0])
    settings = json.loads(store.query("SELECT settings FROM runs WHERE run_id = ?", [r.run_id])["settings"].iloc[0])
    assert settings["protocol"]["extraction"] == "rubric judge=mock prompt=rubric-judge-v1"
    assert settings["protocol"]["generation"]["max_new_tokens"] == 128
    assert cached_count(store, "mock") > 100
    assert run(store, "var-a", tmp_path).status == "cached"


def test_loopback_judge_resumes_after_a_kill_without_asking_again(tmp_path, monkeypatch):
    from harness.judge import backends

    store = Store(tmp_path / "r.duckdb")
    docs = load_suite(SUITE, data_root=tmp_path).docs()
    with Loopback("ok") as srv:
        configure(concurrency=4)  # slices of 16 criteria reach the cache one by one
        real, calls = backends.HTTPJudge.complete, {"n": 0}

        def dying(self, prompts):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt  # killed in the middle of grading
            return real(self, prompts)

        monkeypatch.setattr(backends.HTTPJudge, "complete", dying)
        with pytest.raises(KeyboardInterrupt):
            run(store, "var-a", tmp_path, judge=srv.url)
        asked_before = srv.calls
        assert asked_before == 32 and cached_count(store) == 32
        monkeypatch.setattr(backends.HTTPJudge, "complete", real)
        r = run(store, "var-a", tmp_path, judge=srv.url)
    total = len({(c["criterion"], c["points"], d["id"]) for d in docs for c in d["criteria"]})
    assert srv.calls == total  # the resumed run asked only what the killed one had not
    recs = [json.loads(x) for x in samples(store, r.run_id)["record"]]
    assert sum(c["cached"] for rec in recs for c in rec["criteria"]) == 32


def test_runs_by_different_judges_are_never_paired_and_the_gate_uses_rubric_metrics(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    a = run(store, "var-a", tmp_path)
    b = run(store, "var-b", tmp_path)
    check_pairable(store, SUITE, b.run_id, a.run_id)  # same judge, same prompt: comparable
    c = run(store, "var-c", tmp_path, judge="mock:other")
    with pytest.raises(MedtuneError, match="rubric judge=mock:other prompt=rubric-judge-v1 vs rubric judge=mock prompt"):
        check_pairable(store, SUITE, c.run_id, a.run_id)
    from harness.cli import app

    policy = tmp_path / "gate.yaml"
    policy.write_text("significance: 0.05\nnot_measured: fail\nrules:\n"
                      f"  - rule: min_score\n    suite: {SUITE}\n    metric: rubric_score\n    min: 0.0\n"
                      f"  - rule: max_drop\n    suite: {SUITE}\n    metric: rubric_score\n    max_drop: 1.0\n"
                      f"  - rule: max_drop\n    suite: {SUITE}\n    metric: \"tag_score_theme:harmful_requests\"\n"
                      "    max_drop: 1.0\n")
    res = CliRunner().invoke(app, ["gate", "--db", str(store.path), "--candidate", "var-b", "--baseline",
                                          "var-a", "--policy", str(policy)])
    assert res.exit_code == 0, res.output
    assert "paired bootstrap" in res.output and "PASS" in res.output
    res = CliRunner().invoke(app, ["gate", "--db", str(store.path), "--candidate", "var-c", "--baseline",
                                          "var-a", "--policy", str(policy)])
    assert res.exit_code != 0 and "different protocols" in (res.output + str(res.exception))


def test_forgetting_comparison_pairs_rubric_runs_item_by_item(tmp_path):
    from harness.forgetting.compare import compare_runs

    store = Store(tmp_path / "r.duckdb")
    a, b = run(store, "var-a", tmp_path, limit=10), run(store, "var-b", tmp_path, limit=10)
    suite = load_suite(SUITE, {"chat_template": False}, data_root=tmp_path)
    (cmp,) = compare_runs(store, suite, b.run_id, a.run_id, "reference")
    assert cmp.metric == "rubric_score" and cmp.n == 10 and cmp.ci_low <= cmp.delta <= cmp.ci_high
    assert cmp.delta == pytest.approx(b.metrics["rubric_score"].value - a.metrics["rubric_score"].value)
