"""DuckDB access that survives concurrent writers and readers.

DuckDB 2.0 locks its file strictly: a read-write connection excludes every other process,
read-only ones included, and open readers exclude a writer (ENVIRONMENT.md). So no process
ever holds a connection for longer than one short transaction:

- every connection is opened under an advisory ``flock`` on ``<db>.lock`` (exclusive for
  writes, shared for reads), so cooperating processes queue instead of failing;
- the long work (scoring, training) happens with no connection open; its rows are collected
  in memory and written in one transaction at the end (atomic: all rows or none);
- a lock error from a non-cooperating process is retried with back-off for ``timeout_s``.

A file that is not a medtune results DB (another tool's DuckDB file, or not DuckDB at all) is
refused on the first connection, read or write, before anything is written to it (``check``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import time
from functools import lru_cache
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


@lru_cache(maxsize=1)
def _medtune_columns() -> dict[str, set[str]]:
    """Every medtune table and its columns, from the migrations run in memory."""
    con = duckdb.connect(":memory:")
    try:
        for _, _, sql in _migrations():
            for statement in _split_sql(sql):
                con.execute(statement)
        out: dict[str, set[str]] = {}
        for table, column in con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall():
            out.setdefault(table, set()).add(column)
        return out
    finally:
        con.close()


def _foreign_reason(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why the open file is not a medtune results DB, or None when it is one (or is empty)."""
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database()").fetchall():
        columns.setdefault(table, set()).add(column)
    if not columns:
        return None  # a new, empty file: medtune creates its schema there
    names = ", ".join(sorted(columns)[:6]) + (", ..." if len(columns) > 6 else "")
    if "schema_version" in columns:
        if columns["schema_version"] != {"version", "name", "applied_at"}:
            return f"it has tables {names}, but its schema_version is not medtune's"
        known = {v: n for v, n, _ in _migrations()}
        rows = con.execute("SELECT version, name FROM schema_version").fetchall()
        if any(v in known and n != known[v] for v, n in rows) or (len(columns) > 1 and (1, "core") not in rows):
            return f"it has tables {names}, but its schema_version is not medtune's"
        return None
    # no schema_version: accept only a medtune DB from before it: every core table with at least its first
    # columns, each later migration's tables all there or none, and nothing medtune does not know (a file with
    # a `runs` or `metrics` table of its own is another tool's, and migrating it would fail half-way)
    ours = _medtune_columns()
    strange = sorted(t for t, cols in columns.items() if t not in ours or not cols <= ours[t])
    core = _core_columns()
    if strange or any(t not in columns or not cols <= columns[t] for t, cols in core.items()):
        return f"it has tables {names} but no schema_version"
    for _, _, sql in _migrations():
        created = re.findall(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", sql, re.I)
        if len({t in columns for t in created}) > 1:
            return f"it has tables {names} but no schema_version"
    return None


@lru_cache(maxsize=1)
def _core_columns() -> dict[str, set[str]]:
    """The tables of the first migration with the columns they had then (what any medtune DB holds)."""
    con = duckdb.connect(":memory:")
    try:
        for statement in _split_sql(_migrations()[0][2]):
            con.execute(statement)
        return _columns(con)
    finally:
        con.close()


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used" in text


class Store:
    """Short-lived connections to one DuckDB file, serialised by a sidecar file lock."""

    def __init__(self, path: str | Path, timeout_s: float = 120.0):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.timeout_s = timeout_s
        self._checked = False
        self._path_ok = False
        self._current = False  # schema known to be up to date (set after a migration or a check)

    def check(self) -> None:
        """Refuse, before any work, a file that is not a medtune results DB; never writes.

        A missing file is fine (it is created on the first write). Commands call this at start-up,
        before loading a model or training; every connection runs the same check once anyway.
        """
        self._check_path()
        if self._checked or not self.path.exists() or self.path.stat().st_size == 0:
            return  # an empty file (e.g. made by `touch`) is a new DB: DuckDB initialises it on the first write
        with self._locked(exclusive=False):
            self._verify()

    def _check_path(self) -> None:
        """A path a DB can live at, checked before any file is opened or created: not a folder nor a FIFO,
        in a folder (not under a file), a DuckDB file if it has bytes, its lock file not a folder."""
        if self._path_ok:
            return
        path = self.path
        if path.is_dir():
            raise MedtuneError(f"{path} is a folder, expected a DuckDB file: pass --db FILE")
        if path.exists() and not path.is_file():
            raise MedtuneError(f"{path} is not a regular file (a FIFO or device?), expected a DuckDB file: "
                               "pass --db to another file")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise MedtuneError(f"{path}: {parent} is a file, not a folder: pass --db to a path in a folder")
                break
        if path.exists() and path.stat().st_size > 0:
            with open(path, "rb") as f:
                head = f.read(16)
            if head[8:12] != b"DUCK":  # DuckDB's magic: never hand another format to DuckDB (it would try to
                # download an extension for an SQLite file)
                kind = ": an SQLite database" if head.startswith(b"SQLite format 3") else ""
                raise MedtuneError(f"{path} is not a medtune results DB (it is not a DuckDB file{kind}); "
                                   "pass --db to another file")
        if self.lock_path.is_dir():
            raise MedtuneError(f"{self.lock_path} is a folder: medtune locks {path.name} through a file of that "
                               "name; remove or rename the folder")
        self._path_ok = True

    @contextlib.contextmanager
    def _locked(self, exclusive: bool):
        """The advisory lock on ``<db>.lock``; a lock file made here for a file that is then refused is removed
        (nothing is left beside a file medtune does not own)."""
        made = not self.lock_path.exists()
        with open(self.lock_path, "a+") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            except MedtuneError:
                if made and not self._checked:
                    self.lock_path.unlink(missing_ok=True)
                raise
            finally:
                fcntl.flock(lockf, fcntl.LOCK_UN)

    # -- connections ---------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held only for the ``with`` block. Writes are one transaction.

        The store migrates on open, readers too: a file whose schema is behind is brought up to
        date (one short exclusive transaction) before the read, so every table always exists. A
        read of a file that does not exist yet sees an empty, current schema in memory and creates
        nothing on disk (no file, no lock file).
        """
        self._check_path()
        if not write and (not self.path.exists() or self.path.stat().st_size == 0):
            con = _empty_schema()
            try:
                yield con
            finally:
                con.close()
            return
        if not write and not self._current:
            self._upgrade()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(exclusive=write):
            if not self._checked:
                self._verify()
            con = self._open(write)
            try:
                if write:
                    self._migrate(con)
                    self._current = True
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

    def _upgrade(self) -> None:
        """Before a read: apply pending migrations, if any (checked read-only first, so a current
        file open in a dashboard is never opened read-write)."""
        with self._locked(exclusive=False):
            if not self._checked:
                self._verify()  # also learns whether the schema is current
        if not self._current:
            with self.connect(write=True):
                pass

    def _verify(self) -> None:
        """Read-only look at an existing file (under the caller's lock): refuse a foreign one."""
        if self.path.exists() and self.path.stat().st_size > 0:
            con = self._open(write=False)
            try:
                reason = _foreign_reason(con)
                self._current = self._current or (reason is None and _schema_current(con))
            finally:
                con.close()
            if reason:
                raise MedtuneError(f"{self.path} is not a medtune results DB ({reason}); pass --db to another file")
        self._checked = True

    def _open(self, write: bool) -> duckdb.DuckDBPyConnection:
        if write and self.path.exists() and self.path.stat().st_size == 0:
            self.path.unlink()  # an empty file holds nothing, and DuckDB refuses to initialise one in place
        deadline = time.monotonic() + self.timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=not write)
            except duckdb.Error as exc:  # a non-cooperating process holds the file
                if "not a valid duckdb" in str(exc).lower():
                    raise MedtuneError(f"{self.path} is not a medtune results DB (it is not a DuckDB file); "
                                       "pass --db to another file") from None
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise MedtuneError(f"cannot open {self.path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    @staticmethod
    def _migrate(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, name VARCHAR, applied_at TIMESTAMP)")
        have = {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()}
        columns = _columns(con) if not have else {}  # a medtune DB from before schema_version
        for version, name, sql in _migrations():
            if version in have:
                continue
            con.execute("BEGIN TRANSACTION")
            if not _already_there(sql, columns):
                for statement in _split_sql(sql):
                    con.execute(statement)
            con.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, current_timestamp)",
                        [version, name])
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


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for table, column in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                     "WHERE table_catalog = current_database()").fetchall():
        out.setdefault(table, set()).add(column)
    return out


def _already_there(sql: str, columns: dict[str, set[str]]) -> bool:
    """Whether a DB from before schema_version already has what this migration creates (it is then
    recorded as applied instead of failing on 'table already exists')."""
    creates = re.findall(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", sql, re.I)
    adds = re.findall(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", sql, re.I)
    if not columns or not (creates or adds):
        return False
    return all(t in columns for t in creates) and all(c in columns.get(t, set()) for t, c in adds)


def _schema_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every migration has been applied to the open file."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_catalog = current_database()").fetchall()}
    if "schema_version" not in tables:
        return False
    have = {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()}
    return {v for v, _, _ in _migrations()} <= have


@lru_cache(maxsize=1)
def _empty_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    Store._migrate(con)
    return con


def _empty_schema() -> duckdb.DuckDBPyConnection:
    """A connection to an in-memory DB with the current schema and no rows (built once per process):
    what a read of a missing file sees. Read connections are never written through."""
    return _empty_db().cursor()


def _split_sql(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def to_json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def has_rows(store: Store, table: str) -> bool:
    """Whether a medtune table holds any row (False for a DB that does not exist yet)."""
    if table not in _medtune_columns():
        raise ValueError(f"not a medtune table: {table}")
    with store.connect() as con:
        return con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
