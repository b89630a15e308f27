"""The demo's loop (tune, measure vs parent, audit, gate) and its verdict, on tiny variants.

The real demo trains SmolLM2-135M; here the same code runs the shipped recipe on a tiny Llama, on
a few real suite items, and the verdict is checked against what the store holds.
"""

from __future__ import annotations

import pytest

from harness.cli.demo_loop import POLICY, RECIPE, run
from harness.store import Store
from harness.verdict import Change, Verdict, headline, render

SUITES = ["pubmedqa", "hellaswag", "arc_challenge", "winogrande"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, tiny_causal, data_root):
    tmp = tmp_path_factory.mktemp("demo")
    store = Store(tmp / "demo.duckdb")
    overrides = {"base": str(tiny_causal), "output_dir": str(tmp / "variant"), "data.limit": 12, "data.eval_size": 4,
                 "train.max_steps": 2, "train.eval_every": 2, "train.batch": 2, "train.seq_length": 48}
    kw = dict(recipe=RECIPE, overrides=overrides, limit=8, general_limit=4, audit_suites=SUITES, echo=lambda m: None)
    first = run(store, data_root, **kw)
    n_runs = len(store.query("SELECT run_id FROM runs"))
    second = run(store, data_root, **kw)
    return store, first, second, n_runs


def test_loop_measures_audits_and_judges(demo):
    store, first, _, _ = demo
    v = first.verdict
    assert first.steps == {"tune": "built", "audit": "ran"}
    assert first.parent == v.parent and v.variant == first.variant == "demo_sft_pubmedqa"
    # every suite compared with its parent on the same items, the primary metric of each
    assert {c.suite: (c.metric, c.n) for c in v.changes if c.primary} == {
        "pubmedqa": ("acc", 8), "hellaswag": ("acc_norm", 4), "arc_challenge": ("acc_norm", 4), "winogrande": ("acc", 4)}
    assert {(c.suite, c.metric) for c in v.changes if not c.primary} >= {("pubmedqa", "acc_norm"), ("hellaswag", "acc")}
    stored = store.query("SELECT suite, metric, p_value, delta FROM forgetting WHERE variant = ? AND reference_role = 'parent'",
                         [v.variant])
    for c in v.changes:
        row = stored[(stored.suite == c.suite) & (stored.metric == c.metric)].iloc[0]
        assert c.p_value == pytest.approx(row.p_value) and c.delta == pytest.approx(row.delta)
        assert c.ci_low <= c.delta <= c.ci_high
    assert v.forgetting_index is not None and v.fi_tasks == ["hellaswag", "arc_challenge", "winogrande"]
    # the audit covered the suites asked for; PubMedQA's train ids do not overlap its test ids
    assert set(v.contamination) == set(SUITES) and v.contaminated == {}
    assert any(r["suite"] == "pubmedqa" for r in v.split_overlap)
    assert "pubmedqa train/eval: 0 exact, 0 near-duplicate" in "\n".join(render(v))
    # the gate ran the shipped demo policy; a tiny random model cannot reach 0.50 on PubMedQA... or can: the
    # verdict must say which, with the failed checks' reasons
    assert v.gate_passed == first.gate.passed and v.gate_checks == len(first.gate.results)
    assert [label for label, _ in v.gate_failed] == [r.label for r in first.gate.failed]
    text = "\n".join(render(v, db_path=str(store.path)))
    assert ("PASS" if v.gate_passed else "FAIL") in text and f"medtune dashboard --db {store.path}" in text
    for label, _ in v.gate_failed:
        assert label in text


def test_second_run_reuses_everything(demo):
    store, first, second, n_runs = demo
    assert second.steps == {"tune": "reused", "audit": "reused"}
    assert len(store.query("SELECT run_id FROM runs")) == n_runs  # no suite scored again
    assert [(c.suite, c.delta, c.p_value) for c in second.verdict.changes] == \
           [(c.suite, c.delta, c.p_value) for c in first.verdict.changes]
    assert second.verdict.gate_passed == first.verdict.gate_passed


def _change(suite, delta, p, metric="acc", higher=True):
    return Change(suite, metric, higher, 0.4, 0.4 + delta, delta, delta - 0.05, delta + 0.05, p, "McNemar", 100)


def test_verdict_logic_names_what_improved_what_was_lost_and_why_the_gate_failed():
    v = Verdict("a-variant-with-a-rather-long-name-for-an-80-column-terminal", "smollm2-135m", alpha=0.01,
                changes=[_change("pubmedqa", 0.2, 0.0004), _change("hellaswag", -0.1, 0.005, "acc_norm"),
                         _change("winogrande", 0.05, 0.02), _change("arc_challenge", -0.04, 0.3, "acc_norm")],
                forgetting_index=0.047, fi_ci=(0.01, 0.09), fi_tasks=["hellaswag", "arc_challenge", "winogrande"],
                contamination={"pubmedqa": (0, 500), "medqa_usmle": (2, 1273)},
                gate_passed=False, gate_checks=5, gate_failed=[("max_contamination[medqa_usmle]", "2 of 1273 items")],
                gate_policy=str(POLICY))
    assert [c.suite for c in v.improved] == ["pubmedqa"]          # winogrande: p=0.02 is not < 0.01
    assert [c.suite for c in v.worsened] == ["hellaswag"]         # arc_challenge: p=0.3
    assert v.contaminated == {"medqa_usmle": (2, 1273)} and v.real_effect
    assert headline(v).endswith("learned pubmedqa +0.20; lost hellaswag -0.10; gate FAIL")
    v.changes.append(Change("pubmedqa", "acc_norm", True, 0.49, 0.27, -0.22, -0.3, -0.14, 0.0001, "mcnemar", 100,
                            primary=False))  # a secondary metric that fell is reported too, named
    assert headline(v).endswith("lost hellaswag -0.10, pubmedqa acc_norm -0.22; gate FAIL")
    v.changes.pop()
    lines = render(v, db_path="/tmp/x.duckdb", width=80)
    text = "\n".join(lines)
    assert all(len(line) <= 80 for line in lines[:-1]) and "…" not in text and lines[-1].endswith("/tmp/x.duckdb")
    assert v.variant in text and "pubmedqa acc 0.400 -> 0.600: +0.200 ±0.050" in text and "p=0.0004" in text
    assert "forgetting index +0.047 (95% CI [+0.010, +0.090]" in text
    assert "overlaps 2 of 1,773 suite items: medqa_usmle 2/1273" in text
    assert "FAIL: 1 of 5 checks" in text and "max_contamination[medqa_usmle]: 2 of 1273 items" in text
    # a lower-is-better metric that fell is a gain
    ppl = _change("wikitext2", -3.0, 0.001, "word_perplexity", higher=False)
    assert ppl.gain > 0 and Verdict("v", "p", changes=[ppl]).improved == [ppl]
    # nothing measured: the verdict says what to run
    empty = "\n".join(render(Verdict("v", None)))
    assert "medtune forgetting --variant v" in empty and "medtune audit leakage --variant v" in empty
