"""What every page shares: the store to read, and guidance in place of empty tables."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from harness import settings
from harness.errors import MedtuneError
from harness.store import Store

EVAL_HINT = "medtune eval --variant smollm2-135m --suite medical_qa --limit 20"


def open_store() -> Store:
    """The results DB named by ``medtune dashboard --db`` (env MEDTUNE_DB); guidance if absent."""
    path = settings.db_path(None)
    st.sidebar.caption(f"results DB: `{path}`")
    if not path.exists():
        st.info(f"No results database at `{path}` yet. Score a variant first, e.g.\n\n"
                f"```\n{EVAL_HINT} --db {path}\n```\n\nthen reload this page.")
        st.stop()
    return Store(path)


def require(df: pd.DataFrame | None, missing: str, empty: str | None = None) -> pd.DataFrame:
    """Stop the page with guidance when a source table is absent (``missing``) or has no rows."""
    if df is None:
        st.info(missing)
        st.stop()
    if df.empty:
        st.info(empty or missing)
        st.stop()
    return df


def safe(fn, *args, **kwargs):
    """Run a query; a DB that cannot be read becomes one readable message, not a traceback."""
    try:
        return fn(*args, **kwargs)
    except MedtuneError as exc:
        st.error(str(exc))
        st.stop()


def fmt_ci(value, low, high) -> str:
    if pd.isna(value):
        return ""
    if pd.isna(low) or pd.isna(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def error_bars(df: pd.DataFrame, value: str = "value", low: str = "ci_low", high: str = "ci_high") -> dict:
    """plotly error-bar arguments from a CI pair (missing CIs draw no bar)."""
    return {"error_x": (df[high] - df[value]).fillna(0), "error_x_minus": (df[value] - df[low]).fillna(0)}


def share_column(name: str):
    """A 0..1 value drawn as a bar (accuracy, contamination ratio, AUROC)."""
    return st.column_config.ProgressColumn(name, min_value=0.0, max_value=1.0, format="%.3f")


def pick_audit(audits: pd.DataFrame, label, key: str = "audit") -> str:
    """A selectbox over audit rows (newest first); returns the chosen audit_id."""
    labels = {f"{label(r)} · {str(r.created_at)[:16]} · {r.audit_id}": r.audit_id for r in audits.itertuples()}
    return labels[st.selectbox("Audit", list(labels), key=key)]
