"""A --db file that is not a medtune results DB is refused by every command before any work, and never written."""

import hashlib
import os
from pathlib import Path

import duckdb
import pytest

from harness.errors import MedtuneError
from harness.store import Store
from tests.harness.clihelp import run_cli

REPO = Path(__file__).resolve().parents[2]


def _fingerprint(path: Path) -> tuple:
    siblings = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and not p.name.endswith(".lock"))
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, siblings


def _foreign(tmp_path: Path) -> Path:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:  # another tool's file: its own `runs` table
        con.execute("CREATE TABLE runs (id INTEGER, started VARCHAR, status VARCHAR)")
        con.execute("CREATE TABLE jobs (id INTEGER)")
        con.execute("INSERT INTO runs VALUES (1, '2026-01-01', 'ok')")
    return path


def _foreign_schema_version(tmp_path: Path) -> Path:
    path = tmp_path / "alembic.duckdb"
    with duckdb.connect(str(path)) as con:  # another app's schema_version table
        con.execute("CREATE TABLE schema_version (version INTEGER, migrated_at TIMESTAMP)")
        con.execute("CREATE TABLE runs (id INTEGER)")
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.duckdb"
    path.write_text("this is a text file, not a database\n" * 20)
    return path


def _random(tmp_path: Path) -> Path:
    path = tmp_path / "random.duckdb"
    path.write_bytes(os.urandom(8192))
    return path


@pytest.mark.parametrize("make,reason", [
    (_foreign, "it has tables jobs, runs but no schema_version"),
    (_foreign_schema_version, "it has tables runs, schema_version, but its schema_version is not medtune's"),
    (_text, "it is not a DuckDB file"),
    (_random, "it is not a DuckDB file"),
])
def test_store_refuses_it_on_reads_and_writes(tmp_path, make, reason):
    path = make(tmp_path)
    before = _fingerprint(path)
    for attempt in (lambda s: s.check(), lambda s: s.query("SELECT 1"), lambda s: s.init()):
        with pytest.raises(MedtuneError) as exc:
            attempt(Store(path))
        assert f"{path} is not a medtune results DB ({reason}" in str(exc.value)
        assert "pass --db to another file" in str(exc.value)
    assert _fingerprint(path) == before


def test_medtune_dbs_pass_the_check(tmp_path):
    Store(tmp_path / "missing.duckdb").check()  # created on the first write
    fresh = Store(tmp_path / "fresh.duckdb")
    fresh.init()
    Store(fresh.path).check()
    old = tmp_path / "old.duckdb"  # a medtune DB from before schema_version: core tables only
    with duckdb.connect(str(old)) as con:
        con.execute((REPO / "harness/store/migrations/001_core.sql").read_text())
    Store(old).check()


COMMANDS = [
    ["eval", "--variant", "{model}", "--suite", "medqa_usmle", "--limit", "2"],
    ["results"],
    ["results", "--format", "json"],
    ["models"],
    ["variants"],
    ["forgetting", "--variant", "child"],
    ["gate", "--candidate", "child", "--policy", str(REPO / "harness/gate/policies/default.yaml")],
    ["audit", "leakage", "--variant", "child"],
    ["audit", "robustness", "--variant", "{model}", "--suite", "medqa_usmle", "--limit", "2"],
    ["tune", "demo_dapt_smollm2", "--set", "base={model}"],
    ["dashboard"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_fails_fast_and_writes_nothing(capsys, tmp_path, tiny_causal, data_root, argv, monkeypatch):
    path = _foreign(tmp_path)
    before = _fingerprint(path)
    monkeypatch.setenv("MEDTUNE_DB", str(path))
    argv = [a.format(model=tiny_causal) for a in argv]
    extra = ["--data-root", str(data_root)] if argv[0] in ("eval", "forgetting", "audit", "tune") else []
    code, out, err = run_cli(capsys, *argv, *extra)
    assert code == 2, (out, err)
    assert "is not a medtune results DB (it has tables jobs, runs but no schema_version)" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert _fingerprint(path) == before
    assert not list(tmp_path.glob("**/adapter_config.json")) and not list(tmp_path.glob("**/model.safetensors"))


def test_an_empty_file_is_a_new_db_not_a_foreign_one(tmp_path):
    """`touch results.duckdb` then a medtune command: the empty file is initialised, not refused."""
    path = tmp_path / "results.duckdb"
    path.touch()
    store = Store(path)
    store.check()
    store.init()
    assert "runs" in set(store.query("SELECT table_name FROM information_schema.tables")["table_name"])
