"""Robustness audits (tables of migration 007)."""

from __future__ import annotations

import pandas as pd

from harness.store.db import Store
from harness.store.records import RobustnessAudit, RobustnessPerturbation, insert


def save(store: Store, audit: RobustnessAudit, perturbations: list[RobustnessPerturbation]) -> None:
    """The audit row and its perturbation rows, in one transaction."""
    with store.connect(write=True) as con:
        insert(con, [audit])
        insert(con, perturbations)


def latest(store: Store, variant: str, suite: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(audit row, perturbation rows) of the newest audit of variant x suite, as DataFrames."""
    with store.connect() as con:
        audits = con.execute("SELECT * FROM robustness_audits WHERE variant = ? AND suite = ? "
                             "ORDER BY created_at DESC LIMIT 1", [variant, suite]).df()
        if audits.empty:
            return audits, audits
        rows = con.execute("SELECT * FROM robustness_perturbations WHERE audit_id = ? ORDER BY perturbation",
                           [audits.audit_id[0]]).df()
    return audits, rows
