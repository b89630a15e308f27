"""Leakage audits (tables of migrations 005 and 008)."""

from __future__ import annotations

import pandas as pd

from harness.store.db import Store
from harness.store.records import (CanaryExposure, LeakageAudit, LeakageCleanMetric, LeakageItem,
                                   MembershipInference, PiiFinding, Record, SplitOverlap, insert)

# the per-audit tables, each filled from a list of plain dicts keyed by column name
PER_AUDIT = (LeakageItem, LeakageCleanMetric, SplitOverlap, MembershipInference, CanaryExposure, PiiFinding)
_BY_TABLE = {cls.TABLE: cls for cls in PER_AUDIT}


def write_audit(store: Store, audit: LeakageAudit, tables: dict[str, list[dict]]) -> None:
    """The audit row and its rows in every table (``{table name: [row dict]}``), in one transaction."""
    batches: list[list[Record]] = []
    for table, rows in tables.items():
        cls = _BY_TABLE[table]
        batches.append([cls.from_row({**r, "audit_id": audit.audit_id}) for r in rows])
    with store.connect(write=True) as con:
        insert(con, [audit])
        for batch in batches:
            insert(con, batch, frame=True)  # corpus-scale tables; NaN is stored as NULL, as before


def latest_audit_with(store: Store, variant: str, table: str) -> str | None:
    """The newest leakage audit of ``variant`` that wrote rows to ``table`` (a per-audit table)."""
    if table not in _BY_TABLE:
        raise ValueError(f"not a per-audit leakage table: {table}")
    with store.connect() as con:
        row = con.execute(f"""
            SELECT a.audit_id FROM leakage_audits a
            WHERE a.variant = ? AND EXISTS (SELECT 1 FROM {table} t WHERE t.audit_id = a.audit_id)
            ORDER BY a.created_at DESC LIMIT 1""", [variant]).fetchone()
    return row[0] if row else None


def contamination_counts(store: Store, audit_id: str) -> pd.DataFrame:
    """suite, items, contaminated: per suite of one audit."""
    with store.connect() as con:
        return con.execute("""
            SELECT suite, count(*) AS items, count(*) FILTER (WHERE contaminated) AS contaminated
            FROM leakage_items WHERE audit_id = ? GROUP BY suite ORDER BY suite""", [audit_id]).df()


def canaries(store: Store, audit_id: str) -> pd.DataFrame:
    """canary_id, exposure, reproduced of one audit, highest exposure first."""
    with store.connect() as con:
        return con.execute("SELECT canary_id, exposure, reproduced FROM canary_exposure WHERE audit_id = ? "
                           "ORDER BY exposure DESC", [audit_id]).df()


def split_overlap(store: Store, audit_id: str) -> list[dict]:
    """suite, split_a, split_b, exact, near of one audit, by suite."""
    with store.connect() as con:
        return con.execute("SELECT suite, split_a, split_b, exact, near FROM split_overlap WHERE audit_id = ? "
                           "ORDER BY suite", [audit_id]).df().to_dict("records")
