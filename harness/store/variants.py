"""Variants and their lineage in the store."""

from __future__ import annotations

import json
from typing import Any

from harness.errors import MedtuneError
from harness.store.db import Store, to_json


def register_variant(
    store: Store,
    name: str,
    path: str,
    kind: str,
    method: str = "base",
    parent: str | None = None,
    lineage: dict[str, Any] | None = None,
    con=None,
) -> None:
    """Insert or update a variant. ``base`` is the root of the parent chain.

    Pass ``con`` to write inside a transaction you already hold (e.g. with a run's rows).
    """

    def _write(c):
        base = name
        if parent is not None:
            row = c.execute("SELECT base, name FROM variants WHERE name = ?", [parent]).fetchone()
            if row is None:
                raise MedtuneError(f"parent variant {parent!r} is not in the DB; register it first")
            base = row[0] or row[1]
        c.execute(
            "INSERT OR REPLACE INTO variants (name, path, parent, base, method, kind, lineage, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [name, path, parent, base, method, kind, to_json(lineage or {})],
        )

    if con is not None:
        _write(con)
    else:
        with store.connect(write=True) as c:
            _write(c)


def ensure_variant(store: Store, con, name: str, path: str, kind: str) -> None:
    """Record a model evaluated by name/path as a base variant if it is not known yet."""
    if con.execute("SELECT 1 FROM variants WHERE name = ?", [name]).fetchone() is None:
        register_variant(store, name, path, kind, method="base", con=con)


def _row_dict(cur, row) -> dict:
    cols = [d[0] for d in cur.description]
    out = dict(zip(cols, row))
    if isinstance(out.get("lineage"), str):
        out["lineage"] = json.loads(out["lineage"])
    return out


def get_variant(store: Store, name: str) -> dict | None:
    with store.connect() as con:
        if not _has_table(con, "variants"):
            return None
        cur = con.execute("SELECT * FROM variants WHERE name = ?", [name])
        row = cur.fetchone()
        return _row_dict(cur, row) if row else None


def list_variants(store: Store) -> list[dict]:
    with store.connect() as con:
        if not _has_table(con, "variants"):
            return []
        cur = con.execute("SELECT * FROM variants ORDER BY created_at, name")
        return [_row_dict(cur, r) for r in cur.fetchall()]


def _has_table(con, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0])
