"""The answer prior and calibration: answer distribution, majority-class baseline, ECE and Brier score,
and `medtune results` flagging a collapsed run (issue #24). Stored rows only; no model is loaded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from harness.prior import COLLAPSED, answer_mix, majority_test, mixes, reliability, run_mix
from harness.stats import ECE_BINS, expected_calibration_error, option_probabilities
from suites._types.declarations import metric_def
from tests.harness import prior_db
from tests.harness.clihelp import run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return prior_db.build(tmp_path_factory.mktemp("prior") / "prior.duckdb")


def test_a_siqa_style_collapse_is_only_the_gold_share_of_its_answer(store):
    m = run_mix(store, "siqa-collapsed")
    assert (m.by, m.n, m.top, m.top_share) == ("option", 50, "A", 1.0)
    assert m.top_gold_share == pytest.approx(0.42) and m.gold_share("B") == pytest.approx(0.30)
    # always answering the commonest gold answer (A) scores exactly the same on the same items: no evidence of more
    assert (m.majority, m.majority_acc, m.acc, m.wins, m.losses, m.p_value) == ("A", 0.42, 0.42, 0, 0, 1.0)
    assert m.collapsed and not m.beats(0.05)
    assert m.answers_text() == "answers 'A' on 100% of items (gold: 42%)"
    assert m.baseline_text().startswith("beats the majority baseline: no (p=1; always 'A' scores 0.420")


def test_a_model_that_reads_beats_the_majority_baseline(store):
    reader, base = run_mix(store, "siqa-reader"), run_mix(store, "siqa-base")
    assert reader.acc == pytest.approx(0.8) and not reader.collapsed
    assert reader.beats(0.001) and reader.wins > reader.losses
    assert reader.baseline_text().startswith("beats the majority baseline: yes (p<0.0001")
    assert base.acc == pytest.approx(0.3) and not base.beats(0.05)  # below always answering A


def test_majority_test_is_the_exact_one_sided_mcnemar():
    run = np.array([1] * 8 + [0] * 1 + [1] * 5 + [0] * 6, bool)
    baseline = np.array([0] * 8 + [1] * 1 + [1] * 5 + [0] * 6, bool)
    wins, losses, p = majority_test(run, baseline)
    assert (wins, losses) == (8, 1)
    assert p == pytest.approx(stats.binom.sf(7, 9, 0.5)) and p == pytest.approx(10 / 512)
    assert majority_test(baseline, run)[2] > 0.99  # the other way round it does not beat it


def _rows(preds, targets, options=None, lls=None, generated=False, correct=None):
    import pandas as pd

    n = len(preds)
    return pd.DataFrame({"run_id": ["r"] * n, "doc_id": [f"d{i}" for i in range(n)], "target": targets,
                         "prediction": preds, "correct": correct if correct is not None else [None] * n,
                         "options": [json.dumps(o) for o in options] if options else [None] * n,
                         "loglikelihoods": [json.dumps(x) for x in lls] if lls else [None] * n,
                         "generated": [generated] * n})


def test_answers_are_positions_when_the_options_differ_per_item():
    options = [[f" ending {k} of item {i}" for k in range(4)] for i in range(8)]
    lls = [[-1.0, -2.0, -3.0, -4.0]] * 8
    m = answer_mix(_rows(["0"] * 7 + ["2"], ["0", "1", "2", "3", "1", "1", "0", "2"], options, lls))
    assert (m.by, m.top, m.top_share, m.majority) == ("position", "A", 7 / 8, "B")
    assert m.answers_text() == "answers option A on 88% of items (gold: 25%)"


def test_generated_labels_count_and_free_text_does_not():
    golds = ["yes", "no", "Maybe", "yes", "yes", "no"]
    m = answer_mix(_rows(["yes", "yes", None, "yes", "yes", "yes"], golds, generated=True,
                         correct=[True, False, False, True, True, False]))
    assert (m.by, m.top, m.unanswered, m.majority) == ("label", "yes", 1, "yes")
    assert m.top_share == pytest.approx(5 / 6) and m.acc == pytest.approx(0.5) and m.p_value == 1.0
    free = answer_mix(_rows(["a", "b", "c"], ["one answer", "another", "a third"], generated=True))
    assert free is None
    ner = answer_mix(_rows(["B I O", "O O"], ["B I O", "O B"]))  # no options, no extraction: nothing to count
    assert ner is None


def test_results_flags_the_collapsed_run_in_80_columns(store, capsys, monkeypatch):
    from harness.cli import common

    monkeypatch.setattr(common.console, "width", 80)
    code, out, err = run_cli(capsys, "results", "--db", str(store.path))
    assert code == 0, err
    assert all(len(line) <= 80 for line in out.splitlines())
    flat = " ".join(out.split())
    assert "FLAG siqa · collapsed: answers 'A' on 100% of items (gold: 42%); beats the majority baseline: no (p=1" \
        in flat
    assert "siqa · reader" not in flat  # it reads: neither flagged nor below its baseline
    code, out, _ = run_cli(capsys, "results", "--format", "json", "--db", str(store.path))
    rows = {(r["variant"], r["metric"]): r for r in json.loads(out)}
    assert rows[("collapsed", "acc")]["top_share"] == 1.0 and rows[("collapsed", "acc")]["majority_p"] == 1.0
    assert rows[("reader", "ece")]["top_answer"] == "'A'" and rows[("reader", "acc")]["majority_p"] < 1e-4
    assert rows[("reader", "acc")]["top_share"] < COLLAPSED


def test_ece_is_declared_once_lower_is_better_with_a_paired_test(store):
    ece, brier = metric_def("ece", "multiple_choice"), metric_def("brier", "multiple_choice")
    assert ece.columns == ("confidence", "acc") and not ece.higher_is_better and ece.test == "bootstrap_corpus"
    assert brier.columns == ("brier",) and not brier.higher_is_better and brier.test == "bootstrap_mean"
    assert ece.always and brier.always
    stored = store.query("SELECT r.variant, m.metric, m.value, m.ci_low, m.ci_high, m.higher_is_better "
                         "FROM metrics m JOIN runs r USING (run_id) WHERE m.metric IN ('ece', 'brier')")
    value = {(r.variant, r.metric): r for r in stored.itertuples()}
    # calibrated (80% sure, right on 80%) vs overconfident (98% sure, right on 42%)
    assert value[("reader", "ece")].value == pytest.approx(0.0, abs=1e-9)
    assert value[("collapsed", "ece")].value == pytest.approx(0.98 - 0.42)
    assert value[("collapsed", "brier")].value > value[("reader", "brier")].value
    r = value[("collapsed", "ece")]
    assert r.ci_low <= r.value <= r.ci_high and r.ci_high - r.ci_low > 0 and not r.higher_is_better


def test_ece_bins_and_vectorised_form():
    conf = np.array([0.05, 0.15, 0.95, 1.0, 0.91, 0.55])
    right = np.array([0, 1, 1, 1, 0, 1])
    by_hand = 0.0
    for b in range(ECE_BINS):  # 10 equal-width bins; 1.0 falls in the last
        inside = (np.floor(conf * 10).clip(0, 9) == b)
        if inside.any():
            by_hand += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    assert expected_calibration_error(conf, right) == pytest.approx(by_hand)
    stacked = expected_calibration_error(np.stack([conf, conf[::-1]]), np.stack([right, right[::-1]]))
    assert stacked.shape == (2,) and stacked[0] == pytest.approx(by_hand) and stacked[1] == pytest.approx(by_hand)


def test_multiple_choice_scores_carry_confidence_and_brier():
    from suites._types.multiple_choice import MultipleChoice

    suite = SimpleNamespace(name="s", options={}, spec=SimpleNamespace(target_delimiter=" ", metrics=["acc", "acc_norm"]),
                            prompt=lambda doc: "Q:")
    mc = MultipleChoice(suite)
    doc = {"id": "1", "choices": ["yes", "no", "maybe"], "gold": 1}
    lls = [-0.5, -1.5, -3.0]
    responses = {"loglikelihood": [SimpleNamespace(logprob=x, is_greedy=False, n_tokens=1) for x in lls]}
    sample = mc.score(doc, responses)
    p = option_probabilities(lls)
    assert sample.scores["confidence"] == pytest.approx(p[0])
    assert sample.scores["brier"] == pytest.approx(p[0] ** 2 + (1 - p[1]) ** 2 + p[2] ** 2)
    names = [m.name for m in mc.aggregate([sample, sample])]
    assert names == ["acc", "acc_norm", "ece", "brier"]


def test_reliability_table_from_the_stored_loglikelihoods(store):
    rows = store.query("SELECT s.*, CAST(s.record->'options' AS VARCHAR) AS options, "
                       "CAST(s.record->'loglikelihoods' AS VARCHAR) AS loglikelihoods FROM samples s "
                       "WHERE run_id = 'siqa-collapsed'")
    rel = reliability(rows)
    assert rel.n == 50 and list(rel.bins["bin"]) == [9] and rel.bins["items"].tolist() == [50]
    assert rel.ece == pytest.approx(0.98 - 0.42, abs=1e-5)
    assert rel.bins["accuracy"].item() == pytest.approx(0.42)
    assert mixes(store, ["siqa-collapsed", "no-such-run"])["no-such-run"] is None
