"""``medtune forgetting --processes 2`` (torch.distributed.run, gloo on CPU) on tiny Llamas: every rank
scores its slice of each run, rank 0 alone compares and writes the forgetting tables and prints; rows,
CIs and p-values equal a one-process run, each table written once."""

from __future__ import annotations

import pytest

from harness.store import Store
from harness.store.variants import register_variant
from tests.distributed.conftest import medtune

SUITES = ["medqa_usmle", "winogrande"]
ROW_COLS = "suite, metric, reference_role, variant_value, reference_value, delta, ci_low, ci_high, p_value, test, n"
SUM_COLS = "reference_role, forgetting_index, fi_ci_low, fi_ci_high, domain_gain, dg_ci_low, dg_ci_high"


def family(db, base, child) -> Store:
    store = Store(db)
    register_variant(store, "tiny-base", str(base), "causal")
    register_variant(store, "tiny-child", str(child), "causal", method="full", parent="tiny-base")
    return store


def table(store: Store, sql: str) -> list[tuple]:
    return [tuple(r) for r in store.query(sql).itertuples(index=False)]


def test_two_processes_measure_like_one_and_write_once(tmp_path, tiny_causal, data_root):
    from harness.forgetting.measure import measure
    from tests.tiny_models import make_tiny_causal

    child = make_tiny_causal(tmp_path / "child", seed=1)
    one = family(tmp_path / "one.duckdb", tiny_causal, child)
    two = family(tmp_path / "two.duckdb", tiny_causal, child)
    measure(one, "tiny-child", data_root, suites=SUITES, limit=8, device="cpu", batch_size=4, echo=lambda m: None)

    args = ["forgetting", "--variant", "tiny-child", "--db", str(two.path), "--data-root", str(data_root),
            "--limit", "8", "--device", "cpu", "--batch-size", "4", "--processes", "2"]
    for s in SUITES:
        args += ["--suite", s]
    b = medtune(args, MEDTUNE_CACHE=str(tmp_path / "cache"))
    assert b.returncode == 0, b.stderr[-3000:]
    assert b.stdout.count("forgetting index") == 1  # rank 0 alone prints

    runs = two.query("SELECT variant, suite, settings FROM runs")
    assert len(runs) == 4 and all('"processes": 2' in s for s in runs.settings)  # one run per model x suite
    q = f"SELECT {ROW_COLS} FROM forgetting ORDER BY suite, metric"
    ref, got = table(one, q), table(two, q)
    assert len(got) == len(ref) > 0  # written once (a second writer would have replaced, a bug appended)
    for x, y in zip(ref, got):
        assert x[:3] == y[:3] and x[9:] == y[9:]
        assert y[3:9] == pytest.approx(x[3:9], rel=1e-6, abs=1e-9, nan_ok=True), x[:3]
    qs = f"SELECT {SUM_COLS} FROM forgetting_summary"
    ref_s, got_s = table(one, qs), table(two, qs)
    assert len(got_s) == len(ref_s) == 1
    assert got_s[0][0] == ref_s[0][0]
    assert got_s[0][1:] == pytest.approx(ref_s[0][1:], rel=1e-6, abs=1e-9, nan_ok=True)
