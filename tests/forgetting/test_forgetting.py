import json

import numpy as np
import pytest

from harness.errors import MedtuneError
from harness.forgetting.compare import forgetting_report, compare_runs
from harness.forgetting.measure import measure
from harness.store import Store
from harness.store.variants import register_variant
from suites import load_suite
from tests.harness.clihelp import run_cli

SUITES = ["hellaswag", "arc_challenge", "winogrande", "lambada", "wikitext2", "medqa_usmle"]
LIMITS = {"wikitext2": 2}


@pytest.fixture(scope="module")
def family(tmp_path_factory, tiny_causal):
    """A tiny base and a 'tuned' child (other weights) registered with lineage."""
    from tests.tiny_models import make_tiny_causal

    root = tmp_path_factory.mktemp("family")
    child = make_tiny_causal(root / "child", seed=1)
    db = root / "results.duckdb"
    store = Store(db)
    register_variant(store, "tiny-base", str(tiny_causal), "causal")
    register_variant(store, "tiny-child", str(child), "causal", method="full", parent="tiny-base")
    return store


def test_learn_forget_pair_is_measured_stored_and_shown(family, data_root, capsys):
    result = measure(family, "tiny-child", data_root, suites=SUITES, limit=6, suite_limits=LIMITS)
    assert result.references == {"parent": "tiny-base"}
    comps = {(c.suite, c.metric): c for c in result.comparisons["parent"]}
    assert {("hellaswag", "acc_norm"), ("winogrande", "acc"), ("wikitext2", "word_perplexity"),
            ("lambada", "perplexity"), ("medqa_usmle", "acc")} <= set(comps)
    for c in comps.values():
        assert c.ci_low <= c.delta <= c.ci_high and c.n in (6, 2)
        assert c.delta == pytest.approx(c.variant_value - c.reference_value)
    s = result.summaries["parent"]
    assert s.fi_tasks == ["hellaswag", "arc_challenge", "winogrande"] and s.dg_suites == ["medqa_usmle"]
    expected_fi = np.mean([comps[("hellaswag", "acc_norm")].reference_value - comps[("hellaswag", "acc_norm")].variant_value,
                           comps[("arc_challenge", "acc_norm")].reference_value - comps[("arc_challenge", "acc_norm")].variant_value,
                           comps[("winogrande", "acc")].reference_value - comps[("winogrande", "acc")].variant_value])
    assert s.forgetting_index == pytest.approx(expected_fi)
    stored = family.query("SELECT * FROM forgetting_summary WHERE variant = 'tiny-child'")
    assert len(stored) == 1 and stored.forgetting_index[0] == pytest.approx(expected_fi)

    # the parent's (and child's) scores are reused, not recomputed
    n_runs = len(family.query("SELECT * FROM runs"))
    measure(family, "tiny-child", data_root, suites=SUITES, limit=6, suite_limits=LIMITS, run_missing=False)
    assert len(family.query("SELECT * FROM runs")) == n_runs

    code, out, _ = run_cli(capsys, "results", "--format", "json", "--db", str(family.path))
    rows = [r for r in json.loads(out) if r["suite"] == "learn/forget vs parent"]
    assert {r["metric"] for r in rows} == {"domain_gain", "forgetting_index"}


def test_bad_input_is_named(family, data_root, capsys):
    with pytest.raises(MedtuneError, match="has no parent in the DB"):
        measure(family, "tiny-base", data_root, suites=["winogrande"], limit=2)
    with pytest.raises(MedtuneError, match="is not in the DB"):
        measure(family, "nobody", data_root, suites=["winogrande"], limit=2)
    with pytest.raises(MedtuneError, match="suite piqa has no run for the variant"):
        measure(family, "tiny-child", data_root, suites=["piqa"], limit=3, run_missing=False)
    code, _, err = run_cli(capsys, "forgetting", "--variant", "tiny-base", "--db", str(family.path), "--suite", "piqa")
    assert code == 2 and "has no parent" in err


def test_runs_over_different_items_are_refused(family, data_root):
    measure(family, "tiny-child", data_root, suites=["winogrande"], limit=6)  # cached when run after the test above
    runs = family.query("SELECT run_id, variant, n_samples FROM runs WHERE suite = 'winogrande' ORDER BY n_samples")
    a = runs.run_id[0]
    with family.connect(write=True) as con:  # a tampered copy of a run with one item swapped
        con.execute("CREATE TEMP TABLE t AS SELECT * FROM samples WHERE run_id = ?", [a])
        con.execute("UPDATE t SET run_id = 'tampered'")
        con.execute("UPDATE t SET doc_id = 'L999' WHERE sample_idx = 0")
        con.execute("INSERT INTO samples SELECT * FROM t")
    with pytest.raises(MedtuneError, match="cover different items"):
        compare_runs(family, load_suite("winogrande"), a, "tampered", "parent")


def test_forgetting_index_sign_on_known_drops():
    from harness.forgetting.compare import Comparison

    def comp(suite, metric, deltas):
        d = np.array(deltas, float)
        return Comparison(suite, metric, True, 0, 0, d.mean(), 0, 0, 1, "mcnemar", len(d), d)

    report = forgetting_report([comp("hellaswag", "acc_norm", [-1, 0, 0, 0]), comp("arc_challenge", "acc_norm", [0, 0]),
                                comp("winogrande", "acc", [-1, -1]), comp("medqa_usmle", "acc", [1, 0, 0, 0])])
    assert report.forgetting_index == pytest.approx((0.25 + 0 + 1) / 3)
    assert report.domain_gain == pytest.approx(0.25)
