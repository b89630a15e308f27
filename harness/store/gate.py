"""Gate decisions (tables of migration 006)."""

from __future__ import annotations

from harness.store.db import Store
from harness.store.records import GateResult, GateRun, insert


def record(store: Store, run: GateRun, results: list[GateResult]) -> None:
    """The decision and every result, in one transaction."""
    with store.connect(write=True) as con:
        insert(con, [run])
        insert(con, results)
