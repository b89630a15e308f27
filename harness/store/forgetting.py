"""Forgetting comparisons and summaries (tables of migration 004)."""

from __future__ import annotations

import pandas as pd

from harness.store.db import Store
from harness.store.records import ForgettingRow, ForgettingSummaryRow, insert


def replace(store: Store, variant: str, roles: list[str], rows: list[ForgettingRow],
            summaries: list[ForgettingSummaryRow]) -> None:
    """The variant's rows against each of ``roles`` (parent, base) replace earlier ones, in one transaction."""
    with store.connect(write=True) as con:
        for role in roles:
            con.execute("DELETE FROM forgetting WHERE variant = ? AND reference_role = ?", [variant, role])
            con.execute("DELETE FROM forgetting_summary WHERE variant = ? AND reference_role = ?", [variant, role])
        insert(con, rows)
        insert(con, summaries)


def summaries(store: Store) -> pd.DataFrame:
    """Every forgetting_summary row (JSON columns as text)."""
    with store.connect() as con:
        return con.execute("SELECT * FROM forgetting_summary").df()


def latest_summary(store: Store, variant: str, reference: str | None, role: str | None) -> dict | None:
    """The newest summary of ``variant`` (against ``reference`` and/or ``role`` when given)."""
    with store.connect() as con:
        df = con.execute("""
            SELECT * FROM forgetting_summary WHERE variant = ? AND (? IS NULL OR reference = ?)
              AND (? IS NULL OR reference_role = ?)
            ORDER BY computed_at DESC LIMIT 1""", [variant, reference, reference, role, role]).df()
    return df.iloc[0].to_dict() if len(df) else None


def rows(store: Store, variant: str, role: str) -> pd.DataFrame:
    """Every forgetting row of ``variant`` against its ``role`` (parent | base), as stored."""
    with store.connect() as con:
        return con.execute("SELECT * FROM forgetting WHERE variant = ? AND reference_role = ?", [variant, role]).df()
