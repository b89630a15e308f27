"""The gate's rules, reports and CLI exit codes on the fixture DB (no model is loaded)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError, MedtuneError
from harness.gate import junit_xml, load_policy, markdown, record, run_gate
from harness.store import Store
from tests.dashboards import fixture_db


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(fixture_db.build(tmp_path_factory.mktemp("gate") / "gate.duckdb"))


def policy(tmp_path, rules: str, head: str = "") -> object:
    path = tmp_path / "gate.yaml"
    path.write_text(f"{head}rules:\n{rules}")
    return load_policy(path)


def by_label(report) -> dict:
    return {r.label: r for r in report.results}


def test_min_score_over_a_family(store, tmp_path):
    p = policy(tmp_path, "  - rule: min_score\n    family: medical_qa\n    min: 0.5\n")
    report = run_gate(store, p, "smollm2-dapt-lora")
    results = by_label(report)
    assert set(results) == {"min_score[medmcqa]", "min_score[medqa_usmle]", "min_score[pubmedqa]"}
    assert results["min_score[medmcqa]"].status == "fail" and results["min_score[medmcqa]"].observed == 0.475
    assert results["min_score[pubmedqa]"].status == "pass"
    assert not report.passed and len(report.failed) == 1


def test_max_drop_uses_mcnemar_on_paired_items(store, tmp_path):
    # smollm2-135m's latest medqa run (a regression) is far below the tuned variant's
    p = policy(tmp_path, "  - rule: max_drop\n    suite: medqa_usmle\n    max_drop: 0.02\n")
    r = run_gate(store, p, "smollm2-135m", "smollm2-dapt-lora").results[0]
    assert r.status == "fail" and r.p_value < 0.05 and "McNemar" in r.detail and r.observed > 0.02
    # the other way round the change is a gain: passes
    r = run_gate(store, p, "smollm2-dapt-lora", "smollm2-135m").results[0]
    assert r.status == "pass" and r.observed < 0


def test_max_drop_not_significant_passes(store, tmp_path):
    p = policy(tmp_path, "  - rule: max_drop\n    suite: winogrande\n    max_drop: 0.02\n")
    r = run_gate(store, p, "smollm2-dapt-lora", "smollm2-135m").results[0]
    assert r.observed > 0.02 and r.p_value >= 0.05 and r.status == "pass" and "not significant" in r.detail


def _add_run(store, run_id, variant, suite, samples):
    with store.connect(write=True) as con:
        fixture_db.write_run(con, run_id, variant, suite, samples, fixture_db.T0.replace(year=2027))


def test_max_drop_paired_bootstrap_for_lower_is_better(tmp_path):
    store = Store(tmp_path / "ppl.duckdb")
    store.init()
    rng = np.random.default_rng(0)
    from harness.store.variants import register_variant

    for name in ("base", "cand"):
        register_variant(store, name, "/m", "causal")
    base = rng.uniform(10, 20, 30)
    for name, values in (("base", base), ("cand", base + 3.0)):
        samples = [{"doc_id": f"d{i}", "target": None, "prediction": None, "correct": None, "score": v,
                    "scores": {"acc": v, "acc_norm": v, "word_perplexity": v}, "record": {}}
                   for i, v in enumerate(values)]
        _add_run(store, f"run-{name}", name, "wikitext", samples)
    with store.connect(write=True) as con:  # store the corpus metric the way a perplexity suite would
        con.execute("UPDATE metrics SET metric = 'word_perplexity' WHERE metric = 'acc'")
    p = policy(tmp_path, "  - rule: max_drop\n    suite: wikitext\n    metric: word_perplexity\n    max_drop: 1.0\n")
    r = run_gate(store, p, "cand", "base").results[0]
    assert "paired bootstrap" in r.detail and r.observed == pytest.approx(3.0) and r.status == "fail"


def test_max_drop_refuses_different_items(store, tmp_path):
    samples = fixture_db._samples(np.random.default_rng(1), "medmcqa", 0.3)[:25]
    _add_run(store, "r-short", "smollm2-qlora", "medmcqa", samples)
    p = policy(tmp_path, "  - rule: max_drop\n    suite: medmcqa\n")
    with pytest.raises(MedtuneError, match="scored different items .*0 only in the candidate, 15 only in the baseline"):
        run_gate(store, p, "smollm2-qlora", "smollm2-135m")


def test_audit_rules(store, tmp_path):
    rules = ("  - rule: max_forgetting_index\n    reference: base\n    max: 0.03\n"
             "  - rule: max_contamination\n    max_ratio: 0.1\n"
             "  - rule: max_canary_exposure\n    max: 4.0\n")
    results = by_label(run_gate(store, policy(tmp_path, rules), "smollm2-dapt"))
    assert results["max_forgetting_index"].status == "fail" and results["max_forgetting_index"].observed == pytest.approx(0.05)
    assert results["max_contamination[pubmedqa]"].status == "pass"
    assert results["max_contamination[pubmedqa]"].observed == pytest.approx(0.075)
    canary = results["max_canary_exposure"]
    assert canary.status == "fail" and canary.observed == pytest.approx(9.97) and "canary-2" in canary.detail


@pytest.mark.parametrize("counts_as, passed", [("fail", False), ("pass", True)])
def test_not_measured_follows_the_policy(store, tmp_path, counts_as, passed):
    p = policy(tmp_path, "  - rule: max_canary_exposure\n    max: 4\n", head=f"not_measured: {counts_as}\n")
    report = run_gate(store, p, "smollm2-qlora")  # never audited
    r = report.results[0]
    assert r.status == "not_measured" and "medtune audit leakage" in r.detail
    assert report.passed is passed


def test_not_measured_when_tables_are_absent(tmp_path):
    import duckdb

    db = tmp_path / "old.duckdb"
    sql = (Path(fixture_db.__file__).parents[2] / "harness/store/migrations/001_core.sql").read_text()
    with duckdb.connect(str(db)) as con:
        con.execute(sql)
        con.execute("INSERT INTO variants (name) VALUES ('v')")
    p = policy(tmp_path, "  - rule: max_forgetting_index\n    max: 0.1\n  - rule: max_contamination\n")
    results = run_gate(Store(db), p, "v").results
    assert [r.status for r in results] == ["not_measured", "not_measured"]
    assert "no forgetting tables" in results[0].detail and "no leakage tables" in results[1].detail


@pytest.mark.parametrize("rules, candidate, baseline, message", [
    ("  - rule: min_score\n    suite: medqa\n    min: 0.1\n", "smollm2-dapt", None, "unknown suite 'medqa'"),
    ("  - rule: min_score\n    family: cardiology\n    min: 0.1\n", "smollm2-dapt", None, "unknown family 'cardiology'"),
    ("  - rule: min_score\n    min: 0.1\n", "nope", None, "candidate variant 'nope' is not in"),
    ("  - rule: min_score\n    min: 0.1\n", "smollm2-dapt", "gone", "baseline variant 'gone' is not in"),
    ("  - rule: max_drop\n    suite: medmcqa\n", "smollm2-dapt", None, "pass --baseline"),
])
def test_bad_input_is_named(store, tmp_path, rules, candidate, baseline, message):
    with pytest.raises(MedtuneError, match=message):
        run_gate(store, policy(tmp_path, rules), candidate, baseline)


def test_reports_name_failed_rules_with_numbers(store, tmp_path):
    p = policy(tmp_path, "  - rule: min_score\n    suite: medmcqa\n    min: 0.5\n"
                         "  - rule: max_canary_exposure\n    max: 4\n", head="not_measured: pass\n")
    report = run_gate(store, p, "smollm2-dapt-lora")
    root = ET.fromstring(junit_xml(report).split("?>", 1)[1])
    suite = root.find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    failure = root.find(".//testcase[@name='min_score[medmcqa]']/failure")
    assert "acc 0.475 < 0.500" in failure.get("message")
    md = markdown(report)
    assert md.startswith("## medtune gate ❌ failed: `smollm2-dapt-lora`")
    assert "- `min_score[medmcqa]`: acc 0.475 < 0.500 (n=40)" in md and "not measured" in md
    record(store, report)
    row = store.query("SELECT passed, n_failed, policy FROM gate_runs WHERE gate_id = ?", [report.gate_id]).iloc[0]
    assert not row["passed"] and row["n_failed"] == 1 and json.loads(row["policy"])["not_measured"] == "pass"
    assert len(store.query("SELECT * FROM gate_results WHERE gate_id = ?", [report.gate_id])) == 2


def run_cli(monkeypatch, *args) -> int:
    from harness.cli import main

    monkeypatch.setattr(sys, "argv", ["medtune", "gate", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code


def test_cli_exit_codes_and_outputs(store, tmp_path, monkeypatch, capsys):
    ok = tmp_path / "ok.yaml"
    ok.write_text("rules:\n  - rule: min_score\n    family: medical_qa\n    min: 0.2\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - rule: min_score\n    suite: medmcqa\n    min: 0.9\n")
    common = ["--db", str(store.path), "--candidate", "smollm2-dapt-lora", "--baseline", "smollm2-135m"]
    assert run_cli(monkeypatch, *common, "--policy", str(ok)) == 0
    junit, md = tmp_path / "out/gate.xml", tmp_path / "out/gate.md"
    assert run_cli(monkeypatch, *common, "--policy", str(bad), "--junit", str(junit), "--markdown", str(md)) == 1
    assert "min_score[medmcqa]" in md.read_text() and "<failure" in junit.read_text()
    assert "FAIL 1 of 1 checks: min_score[medmcqa]" in capsys.readouterr().out
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("rules:\n  - rule: min_score\n    suite: medqa\n    min: 0.9\n")
    assert run_cli(monkeypatch, *common, "--policy", str(unknown)) == 2
    assert run_cli(monkeypatch, "--db", str(store.path), "--candidate", "ghost", "--policy", str(ok)) == 2
    assert "ghost" in capsys.readouterr().err


def test_max_drop_on_ner_f1_bootstraps_the_corpus_score(tmp_path):
    """F1 is a corpus score: the paired bootstrap resamples sentences' tp/fp/fn, not per-sentence F1s."""
    from harness.gate.paired import corpus_paired_bootstrap
    from harness.store.variants import register_variant

    store = Store(tmp_path / "ner.duckdb")
    store.init()
    rng = np.random.default_rng(0)
    tp = rng.integers(0, 4, 60)
    counts = {"base": (tp, rng.integers(0, 2, 60), rng.integers(0, 2, 60)),
              "cand": (np.maximum(tp - 1, 0), rng.integers(1, 4, 60), rng.integers(0, 3, 60))}
    for name, (t, fp, fn) in counts.items():
        register_variant(store, name, "/m", "encoder")
        samples = [{"doc_id": f"s{i}", "target": None, "prediction": None, "correct": bool(fp[i] + fn[i] == 0),
                    "score": float(fp[i] + fn[i] == 0),
                    "scores": {"tp": int(t[i]), "fp": int(fp[i]), "fn": int(fn[i]), "acc": 0.0, "acc_norm": 0.0},
                    "record": {}} for i in range(60)]
        _add_run(store, f"run-{name}", name, "ner_ncbi_disease", samples)
        f1 = 2 * t.sum() / (2 * t.sum() + fp.sum() + fn.sum())
        with store.connect(write=True) as con:
            con.execute("INSERT INTO metrics (run_id, metric, value, n) VALUES (?, 'f1', ?, 60)", [f"run-{name}", f1])
    p = policy(tmp_path, "  - rule: max_drop\n    suite: ner_ncbi_disease\n    metric: f1\n    max_drop: 0.05\n")
    r = run_gate(store, p, "cand", "base").results[0]
    assert "paired bootstrap of corpus f1" in r.detail and r.status == "fail" and r.p_value < 0.05
    a = np.stack(counts["cand"], axis=1)
    b = np.stack(counts["base"], axis=1)
    assert corpus_paired_bootstrap("f1", a, b).delta == pytest.approx(-r.observed)
    same = corpus_paired_bootstrap("f1", b, b)
    assert same.delta == 0 and same.p_value == 1.0
