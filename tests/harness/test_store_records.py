"""The store owns every table: typed records with named columns, migration on open, no SQL elsewhere."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from harness.store import Store
from harness.store.db import _medtune_columns
from harness.store.records import (RECORDS, GateResult, GateRun, MetricRow, RunRecord, TrainingCurvePoint, insert,
                                   select)
from harness.store.runs import latest_metric, results_table
from harness.store.variants import get_variant, list_variants, register_variant, training_curve

ROOT = Path(__file__).resolve().parents[2]


def test_every_table_has_a_record_with_its_columns():
    tables = {t: cols for t, cols in _medtune_columns().items() if t != "schema_version"}
    records = {cls.TABLE: cls for cls in RECORDS}
    assert set(records) == set(tables)
    for table, cols in tables.items():
        assert set(records[table].columns()) == cols, table


def test_a_column_added_in_the_middle_shifts_no_value(tmp_path):
    """Tables whose columns sit in another order (as after a migration that rebuilds a table with a new
    column in the middle) still get every value in its own column: every insert names its columns."""
    store = Store(tmp_path / "r.duckdb")
    store.init()
    with store.connect(write=True) as con:
        for table, extra in (("metrics", "note VARCHAR DEFAULT 'x'"), ("gate_results", "weight DOUBLE")):
            cols = con.execute(f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                               "ORDER BY ordinal_position", [table]).fetchall()
            mixed = list(reversed(cols))
            defs = [f"{c} {t}" for c, t in mixed[:2]] + [extra] + [f"{c} {t}" for c, t in mixed[2:]]
            con.execute(f"DROP TABLE {table}")
            con.execute(f"CREATE TABLE {table} ({', '.join(defs)})")
        insert(con, [MetricRow(run_id="r1", metric="acc", value=0.25, ci_low=0.1, ci_high=0.4, n=40)])
        insert(con, [GateResult(gate_id="g1", rule="min_score", suite="pubmedqa", status="fail", passed=False,
                                observed=0.25, threshold=0.3, p_value=0.04, detail="0.25 < 0.3")])
    with store.connect() as con:
        assert select(con, MetricRow) == [MetricRow("r1", "acc", 0.25, 0.1, 0.4, 40)]
        assert con.execute("SELECT note FROM metrics").fetchone() == ("x",)
        assert select(con, GateResult)[0] == GateResult("g1", "min_score", "pubmedqa", "fail", False, 0.25, 0.3, 0.04,
                                                        "0.25 < 0.3")


def test_json_and_default_columns_round_trip(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    with store.connect(write=True) as con:
        insert(con, [GateRun(gate_id="g1", candidate="a", baseline=None, policy={"rules": [1, 2]}, passed=True)])
        insert(con, [RunRecord(run_id="r1", run_key="k", variant="a", suite="s", suite_hash="h", engine="native",
                               settings={"limit": 3}, finished_at=datetime(2026, 1, 2))])
    with store.connect() as con:
        run = select(con, GateRun)[0]
        assert run.policy == {"rules": [1, 2]} and run.created_at is not None
        assert select(con, RunRecord)[0].settings == {"limit": 3}


def test_reads_of_a_missing_db_are_empty_and_create_nothing(tmp_path):
    store = Store(tmp_path / "sub" / "none.duckdb")
    assert get_variant(store, "x") is None and list_variants(store) == [] and training_curve(store, "x") == []
    assert results_table(store).empty and latest_metric(store, "a", "s", "acc") is None
    assert store.schema_version() >= 8
    store.check()
    assert not (tmp_path / "sub").exists()


def test_a_reader_migrates_an_old_db(tmp_path):
    """A DB written before the tuning/robustness migrations: a plain read brings it up to date."""
    from harness.store.db import _migrations, _split_sql

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER, name VARCHAR, applied_at TIMESTAMP)")
    version, name, sql = _migrations()[0]
    for statement in _split_sql(sql):
        con.execute(statement)
    con.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, current_timestamp)",
                [version, name])
    con.close()
    assert training_curve(Store(path), "base") == []  # a plain read: training_curves did not exist
    store = Store(path)
    assert store.schema_version() == max(v for v, _, _ in _migrations())
    with store.connect() as c:
        assert c.execute("SELECT count(*) FROM robustness_audits").fetchone() == (0,)


def test_curves_are_written_with_their_variant(tmp_path):
    from harness.store.variants import register_tuned

    store = Store(tmp_path / "r.duckdb")
    register_tuned(store, name="v", path="/v", kind="causal", method="lora", parent="b", parent_path="/b",
                   parent_kind="causal", lineage={"seed": 1},
                   curves=[{"step": 10, "epoch": 0.5, "train_loss": 2.0, "eval_loss": None, "learning_rate": 1e-4,
                            "tokens_seen": 100}])
    assert get_variant(store, "v")["base"] == "b" and get_variant(store, "v")["lineage"] == {"seed": 1}
    (point,) = training_curve(store, "v")
    assert (point.step, point.train_loss, point.eval_loss, point.tokens_seen) == (10, 2.0, None, 100)
    assert isinstance(point, TrainingCurvePoint)


SQL_PATTERNS = [  # the codebase writes SQL keywords in capitals
    re.compile(r"""["']\s*(SELECT|INSERT|DELETE|UPDATE|CREATE|ALTER|DROP|WITH)\s"""),  # a string that is SQL
    re.compile(r"\.(execute|executemany|query|sql)\(\s*f?[\"']"),  # SQL text handed to DuckDB
    re.compile(r"^\s*(SELECT\s.*\sFROM\s|INSERT\s+INTO\s|DELETE\s+FROM\s|UPDATE\s+\w+\s+SET\s|CREATE\s+TABLE\s)"),
    # a line inside a multi-line SQL string
]
ALLOWED = {"dashboards/data.py"}  # the dashboard's read-only queries


def _is_sql(line: str) -> bool:
    return any(p.search(line) for p in SQL_PATTERNS)


@pytest.mark.parametrize("line, sql", [
    ('con.execute("INSERT INTO runs VALUES (?)", row)', True),
    ('df = store.query(f"""', True),
    ("            SELECT l.run_id, m.value FROM runs l", True),
    ("    sql = 'DELETE FROM forgetting WHERE variant = ?'", True),
    ("Select the model from the registry", False),
    ('raise MedtuneError(f"no run of {suite}: run `medtune eval` first")', False),
])
def test_the_sql_scan_sees_sql(line, sql):
    assert _is_sql(line) is sql


def test_no_sql_outside_the_store():
    offenders = []
    for top in ("harness", "tuning", "dashboards", "medtune"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("harness/store/") or rel in ALLOWED:
                continue
            offenders += [f"{rel}:{n}: {line.strip()}"
                          for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if _is_sql(line)]
    assert offenders == []


def test_store_inserts_name_their_columns():
    positional = re.compile(r"INSERT\s+(OR\s+\w+\s+)?INTO\s+[\w{}.]+\s+(VALUES|SELECT)", re.I)
    hits = [f"{p.name}: {m.group(0)}" for p in (ROOT / "harness" / "store").rglob("*.py")
            for m in positional.finditer(p.read_text(encoding="utf-8"))]
    assert hits == []


def test_a_reader_migrates_a_db_from_before_schema_version(tmp_path):
    """Core tables only and no schema_version (the dashboard's 'old DB'): a read adds the rest."""
    path = tmp_path / "older.duckdb"
    sql = (ROOT / "harness/store/migrations/001_core.sql").read_text()
    with duckdb.connect(str(path)) as con:
        con.execute(sql)
        con.execute("INSERT INTO variants (name, path) VALUES ('base', '/m')")
    store = Store(path)
    assert get_variant(store, "base")["path"] == "/m" and training_curve(store, "base") == []
    with store.connect() as con:
        assert {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()} >= {1, 2, 8}
