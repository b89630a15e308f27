"""Variants, their lineage and their training curves in the store."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from harness.errors import MedtuneError
from harness.store.db import Store
from harness.store.records import TrainingCurvePoint, VariantRecord, insert, select


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
        # created_at is left to the DB default (now); OR REPLACE refreshes it, as before
        insert(c, [VariantRecord(name=name, path=path, parent=parent, base=base, method=method, kind=kind,
                                 lineage=lineage or {})], mode="OR REPLACE")

    if con is not None:
        _write(con)
    else:
        with store.connect(write=True) as c:
            _write(c)


def ensure_variant(store: Store, con, name: str, path: str, kind: str) -> None:
    """Record a model evaluated by name/path as a base variant if it is not known yet."""
    if con.execute("SELECT 1 FROM variants WHERE name = ?", [name]).fetchone() is None:
        register_variant(store, name, path, kind, method="base", con=con)


def register_tuned(store: Store, *, name: str, path: str, kind: str, method: str, parent: str, parent_path: str,
                   parent_kind: str, lineage: dict[str, Any], curves: Iterable[dict]) -> None:
    """A trained variant: its parent (if new), its row and its loss curve, in ONE transaction.

    ``curves`` are dicts with the keys of ``TrainingCurvePoint`` (step, epoch, train_loss, ...);
    the curve replaces any earlier one of ``name``.
    """
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    points = [TrainingCurvePoint(variant=name, step=c["step"], epoch=c["epoch"], train_loss=c["train_loss"],
                                 eval_loss=c["eval_loss"], learning_rate=c["learning_rate"],
                                 tokens_seen=c["tokens_seen"], logged_at=now) for c in curves]
    with store.connect(write=True) as con:
        ensure_variant(store, con, parent, parent_path, parent_kind)
        register_variant(store, name, path, kind, method=method, parent=parent, lineage=lineage, con=con)
        con.execute("DELETE FROM training_curves WHERE variant = ?", [name])
        insert(con, points)


def get_variant(store: Store, name: str) -> dict | None:
    """The variant row as a dict (lineage decoded), or None (also when the DB does not exist yet)."""
    with store.connect() as con:
        rows = select(con, VariantRecord, "name = ?", [name])
    return rows[0].as_dict() if rows else None


def list_variants(store: Store) -> list[dict]:
    with store.connect() as con:
        return [r.as_dict() for r in select(con, VariantRecord, order="created_at, name")]


def variant_names(store: Store) -> list[str]:
    with store.connect() as con:
        return [r[0] for r in con.execute("SELECT name FROM variants ORDER BY name").fetchall()]


def training_curve(store: Store, variant: str) -> list[TrainingCurvePoint]:
    with store.connect() as con:
        return select(con, TrainingCurvePoint, "variant = ?", [variant], order="step")
