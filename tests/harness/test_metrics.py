"""One declaration per metric (harness.metrics): the gate, forgetting, robustness, the store and the
dashboard read the same direction and paired test from the suite type."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from harness.metrics import MEAN, MetricDef, declare
from harness.results import Sample
from harness.store import Store
from suites._types import TYPES
from suites._types.base import SuiteType
from suites._types.declarations import higher_is_better, metric_def
from tests.dashboards import fixture_db

ROOT = Path(__file__).resolve().parents[2]


def test_no_other_direction_list_or_test_chooser():
    """The lists and choosers the declaration replaced stay gone."""
    for path in [*ROOT.glob("harness/**/*.py"), *ROOT.glob("suites/**/*.py"), *ROOT.glob("dashboards/**/*.py")]:
        text = path.read_text()
        assert not re.search(r"LOWER_IS_BETTER|COUNT_METRICS|PER_LABEL_TYPES", text), path


def _ner_items(rng, n=50, worse=False):
    tp = rng.integers(0, 4, n)
    fp, fn = rng.integers(1 if worse else 0, 3, n), rng.integers(0, 2, n)
    return [{"tp": float(a), "fp": float(b), "fn": float(c)} for a, b, c in zip(tp, fp, fn)]


def test_gate_forgetting_and_robustness_read_one_declaration(tmp_path):
    """NER f1: the same test, the same delta and the same direction in all three."""
    from harness.forgetting.compare import compare_runs
    from harness.gate.paired import paired_test
    from harness.robustness._adapters import NERAdapter

    rng = np.random.default_rng(3)
    base, cand = _ner_items(rng), _ner_items(rng, worse=True)
    gate_cmp, name = paired_test("f1", cand, base, suite_type="ner")
    assert name == "paired bootstrap of corpus f1"

    samples = lambda items: [Sample(f"s{i}", None, None, None, None, d) for i, d in enumerate(items)]
    robust = NERAdapter([]).paired(samples(base), samples(cand))  # perturbed - clean

    store = Store(tmp_path / "one.duckdb")
    with store.connect(write=True) as con:
        for run, items in (("cand", cand), ("base", base)):
            rows = [{"doc_id": f"s{i}", "target": None, "prediction": None, "correct": None, "score": 0.0,
                     "scores": d, "record": {}} for i, d in enumerate(items)]
            fixture_db.write_run(con, run, run, "ner_ncbi_disease", rows, fixture_db.T0)
    from suites import load_suite

    [forget] = [c for c in compare_runs(store, load_suite("ner_ncbi_disease"), "cand", "base", "parent")
                if c.metric == "f1"]
    assert gate_cmp.delta < 0
    assert gate_cmp.delta == pytest.approx(robust.delta) and gate_cmp.delta == pytest.approx(forget.delta)
    assert (gate_cmp.p_value, gate_cmp.ci_low) == pytest.approx((robust.p_value, robust.ci_low))
    assert forget.p_value == pytest.approx(gate_cmp.p_value) and forget.test == gate_cmp.test
    assert forget.higher_is_better is higher_is_better("f1", "ner") is NERAdapter([]).declared.higher_is_better is True
    # lower-is-better metrics agree too: forgetting marks them, the gate flips the sign of the drop
    assert not higher_is_better("word_perplexity", "perplexity") and not higher_is_better("perplexity", "last_word")
    assert metric_def("f1_Disease", "ner").columns == ("tp_Disease", "fp_Disease", "fn_Disease")


class ToyLoss(SuiteType):
    """A test-only suite type with one lower-is-better metric, added by one declaration."""

    metrics = declare(MetricDef("surprise", ("surprise",), higher_is_better=False, test=MEAN))


@pytest.fixture
def toy_type():
    TYPES.register("toy_loss", ToyLoss)
    yield ToyLoss
    TYPES.unregister("toy_loss")


def test_a_new_metric_is_one_declaration(toy_type, tmp_path):
    """Gate max_drop and the forgetting comparison both judge the new metric lower-is-better."""
    from harness.forgetting.compare import compare_runs
    from harness.gate import load_policy, run_gate
    from harness.store.variants import register_variant

    store = Store(tmp_path / "toy.duckdb")
    rng = np.random.default_rng(0)
    base = rng.uniform(1.0, 2.0, 40)
    with store.connect(write=True) as con:
        for name, values in (("base", base), ("cand", base + 0.5)):  # the candidate is worse: more surprised
            register_variant(store, name, "/m", "causal", con=con)
            rows = [{"doc_id": f"d{i}", "target": None, "prediction": None, "correct": None, "score": float(v),
                     "scores": {"surprise": float(v)}, "record": {}} for i, v in enumerate(values)]
            fixture_db.write_run(con, f"run-{name}", name, "toy", rows, fixture_db.T0)
            con.execute("INSERT INTO metrics (run_id, metric, value, n) VALUES (?, 'surprise', ?, 40)",
                        [f"run-{name}", float(values.mean())])
        con.execute("UPDATE suites SET type = 'toy_loss' WHERE name = 'toy'")
    policy = tmp_path / "gate.yaml"
    policy.write_text("rules:\n  - rule: max_drop\n    suite: toy\n    metric: surprise\n    max_drop: 0.1\n")
    [r] = run_gate(store, load_policy(policy), "cand", "base").results
    assert r.observed == pytest.approx(0.5) and r.status == "fail" and "paired bootstrap" in r.detail
    [r] = run_gate(store, load_policy(policy), "base", "cand").results  # the other way round: a gain
    assert r.observed == pytest.approx(-0.5) and r.status == "pass"

    suite = SimpleNamespace(name="toy", spec=SimpleNamespace(metrics=["surprise"], type="toy_loss"))
    suite.type = ToyLoss(suite)
    [c] = compare_runs(store, suite, "run-cand", "run-base", "parent")
    assert c.higher_is_better is False and c.delta == pytest.approx(0.5) and c.test == "paired_bootstrap"
    assert c.variant_value == pytest.approx(base.mean() + 0.5)


def test_direction_is_stored_with_every_metric_row(tmp_path):
    from harness.store.runs import results_table, write_run
    from suites import load_suite

    suite = load_suite("lambada")
    samples = [Sample(f"d{i}", "w", None, bool(i % 2), float(i % 2), {"acc": float(i % 2), "loglikelihood": -2.0 - i})
               for i in range(6)]
    metrics = suite.type.aggregate(samples)
    assert {m.name: m.higher_is_better for m in metrics} == {"acc": True, "perplexity": False}
    store = Store(tmp_path / "dir.duckdb")
    write_run(store, key="k", variant="v", model_info=SimpleNamespace(path="/m", kind="causal"), suite=suite,
              engine="native", settings={}, samples=samples, metrics=metrics, started_at=datetime(2026, 1, 1),
              duration_s=1.0)
    stored = store.query("SELECT metric, higher_is_better FROM metrics ORDER BY metric")
    assert stored.to_dict("list") == {"metric": ["acc", "perplexity"], "higher_is_better": [True, False]}
    table = results_table(store).set_index("metric")
    assert table.loc["perplexity", "higher_is_better"] == False  # noqa: E712 (numpy bool)

    # an old row (NULL) falls back to the declaration; a stored direction wins over it
    from dashboards.data import metric_direction

    with store.connect(write=True) as con:
        con.execute("UPDATE metrics SET higher_is_better = NULL")
    assert metric_direction(store, "perplexity", "lambada") is False and metric_direction(store, "acc") is True
    assert higher_is_better("perplexity", "last_word", stored=True) is True
    assert higher_is_better("perplexity", "last_word", stored=float("nan")) is False


def test_old_db_gains_the_direction_column(tmp_path):
    import duckdb

    from harness.store.db import _migrations, _split_sql

    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER, name VARCHAR, applied_at TIMESTAMP)")
        for version, name, sql in _migrations():
            if version < 9:
                for statement in _split_sql(sql):
                    con.execute(statement)
                con.execute("INSERT INTO schema_version VALUES (?, ?, current_timestamp)", [version, name])
        con.execute("INSERT INTO metrics VALUES ('r1', 'acc', 0.5, 0.4, 0.6, 10)")
    store = Store(db)
    store.init()
    row = store.query("SELECT metric, value, higher_is_better FROM metrics").iloc[0]
    assert row["metric"] == "acc" and row["value"] == 0.5 and pd.isna(row["higher_is_better"])
