"""DuckDB access that survives concurrent writers and readers.

DuckDB 2.0 locks its file strictly: a read-write connection excludes every other process,
read-only ones included, and open readers exclude a writer (ENVIRONMENT.md). So no process
ever holds a connection for longer than one short transaction:

- every connection is opened under an advisory ``flock`` on ``<db>.lock`` (exclusive for
  writes, shared for reads), so cooperating processes queue instead of failing;
- the long work (scoring, training) happens with no connection open; its rows are collected
  in memory and written in one transaction at the end (atomic: all rows or none);
- a lock error from a non-cooperating process is retried with back-off for ``timeout_s``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import time
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import duckdb

from harness.errors import MedtuneError

_MIGRATIONS = "harness.store.migrations"


def _migrations() -> list[tuple[int, str, str]]:
    out = []
    for entry in resources.files(_MIGRATIONS).iterdir():
        m = re.match(r"(\d+)_(\w+)\.sql$", entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text()))
    return sorted(out)


SCHEMA_VERSION = max(v for v, _, _ in _migrations())


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used" in text


class Store:
    """Short-lived connections to one DuckDB file, serialised by a sidecar file lock."""

    def __init__(self, path: str | Path, timeout_s: float = 120.0):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.timeout_s = timeout_s

    # -- connections ---------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held only for the ``with`` block. Writes are one transaction."""
        if not write and not self.path.exists():
            raise MedtuneError(f"no results database at {self.path}: run `medtune eval` first or pass --db")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                con = self._open(write)
                try:
                    if write:
                        self._migrate(con)
                        con.execute("BEGIN TRANSACTION")
                        try:
                            yield con
                        except BaseException:
                            con.execute("ROLLBACK")
                            raise
                        con.execute("COMMIT")
                    else:
                        yield con
                finally:
                    con.close()
            finally:
                fcntl.flock(lockf, fcntl.LOCK_UN)

    def _open(self, write: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=not write)
            except duckdb.Error as exc:  # a non-cooperating process holds the file
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise MedtuneError(f"cannot open {self.path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, name VARCHAR, applied_at TIMESTAMP)")
        have = {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()}
        for version, name, sql in _migrations():
            if version in have:
                continue
            con.execute("BEGIN TRANSACTION")
            statements = [s for s in _split_sql(sql)]
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, ?, current_timestamp)", [version, name])
            con.execute("COMMIT")

    def init(self) -> None:
        """Create or migrate the schema."""
        with self.connect(write=True):
            pass

    # -- convenience reads ---------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None):
        """Run a read query; returns a pandas DataFrame."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    def schema_version(self) -> int:
        with self.connect() as con:
            return con.execute("SELECT max(version) FROM schema_version").fetchone()[0]


def _split_sql(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def to_json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)
