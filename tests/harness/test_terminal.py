"""Terminal tables fit 80 columns without cutting a variant or suite name (rich honours COLUMNS)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from rich.console import Console

from harness.terminal import print_table
from tests.dashboards import fixture_db

MEDTUNE = [sys.executable, "-c", "from harness.cli import main; main()"]
LONG = "smollm2-135m-sft-pubmedqa-full-weights-lr1e-4-seed42"  # longer than any column can hold


def _check(out: str, names, width: int = 80) -> None:
    assert "…" not in out
    for line in out.splitlines():
        assert len(line) <= width, line
    for name in names:
        assert name in out, name


def test_results_fit_80_columns_with_every_name_whole(tmp_path):
    db = fixture_db.build(tmp_path / "r.duckdb")
    from harness.store import Store
    from harness.store.variants import register_variant

    register_variant(Store(db), LONG, "/models/x", "causal", method="sft", parent="smollm2-135m")
    with Store(db).connect(write=True) as con:  # the long-named variant's runs: a copy of its parent's
        con.execute(f"INSERT INTO runs SELECT * REPLACE (run_id || '-long' AS run_id, '{LONG}' AS variant) FROM runs "
                    "WHERE variant = 'smollm2-135m'")
        con.execute("INSERT INTO metrics SELECT * REPLACE (run_id || '-long' AS run_id) FROM metrics WHERE run_id IN "
                    f"(SELECT replace(run_id, '-long', '') FROM runs WHERE variant = '{LONG}')")
    names = [v[0] for v in fixture_db.VARIANTS] + [LONG] + list(fixture_db.SUITES) + ["learn/forget vs base"]
    for columns in (80, 200):
        env = {**os.environ, "COLUMNS": str(columns)}
        out = subprocess.run([*MEDTUNE, "results", "--db", str(db)], capture_output=True, text=True, env=env,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        _check(out.stdout, names, columns)
        assert ("±" in out.stdout) or columns > 80  # the compact forms show the CI as ±half-width


def test_table_helper_narrows_then_goes_vertical():
    rows = [(f"suite_{i}_with_a_long_name", LONG, f"{v:.3f}", "[0.100, 0.900]", "1273")
            for i, v in enumerate(np.linspace(0, 1, 3))]
    for width in (200, 80, 60):  # 60: the name (52) still fits on a line of its own
        console = Console(width=width, record=True, color_system=None)
        print_table(console, "scores", ("suite", "variant", "value", "95% CI", "n"), rows, left=2)
        out = console.export_text()
        _check(out, [r[0] for r in rows] + [LONG], width)
