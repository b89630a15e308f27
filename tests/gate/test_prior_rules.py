"""The gate rules that catch a model that only learned a prior (issue #24): beats_majority_baseline,
max_answer_share, max_calibration_error and max_drop over every declared metric (``metric: all``); and the
demo's policy on stored rows that tell the demo's story. No model is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.gate import load_policy, run_gate
from harness.gate.policy import RULES
from tests.harness import prior_db

REPO = Path(__file__).resolve().parents[2]
DEMO_POLICY = REPO / "harness/gate/policies/demo.yaml"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = prior_db.build(tmp_path_factory.mktemp("prior-gate") / "gate.duckdb")
    prior_db.write_pubmedqa(store)
    return store


def policy(tmp_path, rules: str, head: str = ""):
    path = tmp_path / "gate.yaml"
    path.write_text(f"{head}rules:\n{rules}")
    return load_policy(path)


def by_label(report) -> dict:
    return {r.label: r for r in report.results}


PRIOR_RULES = ("  - rule: beats_majority_baseline\n    suite: siqa\n"
               "  - rule: max_answer_share\n    suite: siqa\n    max_share: 0.8\n")


def test_a_collapsed_variant_fails_both_prior_rules(store, tmp_path):
    report = run_gate(store, policy(tmp_path, PRIOR_RULES), "collapsed")
    beats, share = by_label(report)["beats_majority_baseline[siqa]"], by_label(report)["max_answer_share[siqa]"]
    assert beats.status == "fail" and beats.p_value == 1.0
    assert beats.detail.startswith("does not beat always answering 'A' (the commonest gold answer): acc 0.420 vs 0.420")
    assert share.status == "fail" and share.observed == 1.0 and share.threshold == 0.8
    assert share.detail.startswith("answers 'A' on 100% of items (gold: 42%) > 80% allowed")
    assert not report.passed


def test_a_variant_that_reads_passes_them(store, tmp_path):
    report = run_gate(store, policy(tmp_path, PRIOR_RULES), "reader")
    assert report.passed, [(r.label, r.detail) for r in report.failed]
    beats = by_label(report)["beats_majority_baseline[siqa]"]
    assert beats.p_value < 1e-4 and beats.detail.startswith("beats always answering 'A'")


def test_max_answer_share_allows_an_answer_as_common_as_its_gold_share(store, tmp_path):
    # the collapsed run answers A on 100%; a gold share of A at 0.96 would allow it (0.96 + slack 0.05)
    p = policy(tmp_path, "  - rule: max_answer_share\n    suite: siqa\n    max_share: 0.8\n    slack: 0.6\n")
    r = run_gate(store, p, "collapsed").results[0]
    assert r.status == "pass" and r.threshold == pytest.approx(1.0) and "gold share 42% + 0.6" in r.detail


def test_metric_all_catches_the_acc_norm_drop_that_metric_acc_misses(store, tmp_path):
    acc = run_gate(store, policy(tmp_path, "  - rule: max_drop\n    suite: siqa\n    metric: acc\n"), "collapsed", "base")
    assert acc.passed and acc.results[0].observed < 0  # acc rose 0.30 -> 0.42: passes
    report = run_gate(store, policy(tmp_path, "  - rule: max_drop\n    suite: siqa\n    metric: all\n"),
                      "collapsed", "base")
    results = by_label(report)
    assert set(results) == {f"max_drop[siqa:{m}]" for m in ("acc", "acc_norm", "ece", "brier")}
    norm = results["max_drop[siqa:acc_norm]"]
    assert norm.status == "fail" and norm.metric == "acc_norm" and norm.p_value < 0.05
    assert norm.detail.startswith("acc_norm 0.600 -> 0.160: drop +0.440 > 0.000 allowed; McNemar")
    ece = results["max_drop[siqa:ece]"]  # lower is better: a rise of the calibration error is a drop
    assert ece.status == "fail" and ece.observed == pytest.approx(0.56 - 0.2) and "paired bootstrap of corpus ece" \
        in ece.detail
    assert results["max_drop[siqa:acc]"].status == "pass" and not report.passed


def test_max_calibration_error(store, tmp_path):
    p = policy(tmp_path, "  - rule: max_calibration_error\n    family: general\n    max: 0.2\n")
    over = run_gate(store, p, "collapsed").results[0]
    assert over.status == "fail" and over.observed == pytest.approx(0.56) and over.metric == "ece"
    assert "ece 0.560" in over.detail and "> 0.200 allowed (10 equal-width bins of the top option's probability" \
        in over.detail
    assert run_gate(store, p, "reader").results[0].status == "pass"
    brier = policy(tmp_path, "  - rule: max_calibration_error\n    suite: siqa\n    metric: brier\n    max: 0.5\n")
    assert run_gate(store, brier, "collapsed").results[0].status == "fail"
    assert run_gate(store, brier, "reader").results[0].status == "pass"


def test_the_new_rules_are_validated(tmp_path):
    assert {"beats_majority_baseline", "max_answer_share", "max_calibration_error"} <= set(RULES)
    for text, message in [("  - rule: max_answer_share\n    max_share: 1.5\n", "rules[0].max_share"),
                          ("  - rule: max_calibration_error\n    metric: acc\n    max: 0.1\n", "rules[0].metric"),
                          ("  - rule: max_calibration_error\n", "rules[0].max"),
                          ("  - rule: beats_majority_baseline\n    significance: 2\n", "rules[0].significance")]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            policy(tmp_path, text)


def test_the_demo_policy_fails_the_always_yes_variant_for_the_prior(store):
    """The demo's story on stored rows: "yes" on every PubMedQA item lifts acc from 0.35 to 0.55 (its gold
    share) while acc_norm falls; the shipped demo policy fails it for exactly that, in one line."""
    from harness.store.records import ForgettingRow, ForgettingSummaryRow, LeakageAudit, LeakageItem, insert
    from harness.verdict import collect, headline, render

    with store.connect(write=True) as con:  # forgetting and leakage measured and clean: only the prior is left
        insert(con, [ForgettingSummaryRow(variant="demo_sft_pubmedqa", reference="smollm2-135m",
                                          reference_role="parent", forgetting_index=0.0, fi_ci_low=-0.02,
                                          fi_ci_high=0.02, fi_tasks=[], domain_gain=0.2, dg_ci_low=0.1,
                                          dg_ci_high=0.3, dg_suites=["pubmedqa"])])
        insert(con, [ForgettingRow(variant="demo_sft_pubmedqa", reference="smollm2-135m", reference_role="parent",
                                   suite="pubmedqa", family="medical_qa", metric=m, higher_is_better=True,
                                   variant_value=after, reference_value=before, delta=after - before,
                                   ci_low=after - before - 0.1, ci_high=after - before + 0.1, p_value=p, test="mcnemar",
                                   n=100, variant_run="pqa-child", reference_run="pqa-parent")
                     for m, before, after, p in (("acc", 0.35, 0.55, 0.0042), ("acc_norm", 0.53, 0.27, 0.0003))])
        insert(con, [LeakageAudit(audit_id="a1", variant="demo_sft_pubmedqa", settings={}, summary={})])
        insert(con, [LeakageItem(audit_id="a1", suite="pubmedqa", doc_id=f"pqa-{i:03d}", contaminated=False)
                     for i in range(100)])
    report = run_gate(store, load_policy(DEMO_POLICY), "demo_sft_pubmedqa", "smollm2-135m",
                      policy_path=str(DEMO_POLICY))
    results = by_label(report)
    assert results["min_score[pubmedqa]"].status == "pass"      # 0.55 >= 0.50: the floor alone let it through
    assert results["max_drop[pubmedqa:acc]"].status == "pass"   # and acc rose
    assert {r.label for r in report.failed} == {"beats_majority_baseline[pubmedqa]", "max_answer_share[pubmedqa]",
                                                "max_drop[pubmedqa:acc_norm]"}
    v = collect(store, "demo_sft_pubmedqa", report)
    assert v.gate_passed is False and v.prior_only == ["pubmedqa"]
    assert v.gate_reason == ("pubmedqa: prior-only gain (answers 'yes' on 100% of items, no better than always "
                             "answering 'yes', p=1); pubmedqa acc_norm dropped 0.53 -> 0.27 (p<0.0001)")
    lines = render(v, width=80)
    assert all(len(line) <= 80 for line in lines)
    text = " ".join(" ".join(lines).split())
    assert headline(v).startswith("demo_sft_pubmedqa: learned pubmedqa +0.20 (label prior only); lost pubmedqa "
                                  "acc_norm -0.26; gate FAIL")
    assert "answers 'yes' on 100% of items (gold: 55%; parent: 'no' on 40%)" in text
    assert "beats the majority baseline: no (p=1; always 'yes' scores 0.550, the run 0.550); the gain is the " \
           "label prior, not the task" in text
    assert f"FAIL: 3 of {len(report.results)} checks of" in text and v.gate_reason in text
    assert "do not ship demo_sft_pubmedqa: on pubmedqa it learned which answer is common" in text
