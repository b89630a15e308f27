"""Read-only queries behind the dashboard pages.

Every function takes a ``Store`` and runs parameterised SQL through ``Store.query``, which
opens a read-only connection under a shared file lock for the length of one query: a
dashboard left open never blocks a run that wants to write. A function whose source table
does not exist (an older DB, an audit never run) returns ``None``; an empty result is an
empty DataFrame. Pages turn both into guidance. Nothing here imports models or torch.
"""

from __future__ import annotations

import json

import pandas as pd

from harness.store import Store
from harness.store.runs import LATEST_RUNS_SQL


def tables(store: Store) -> set[str]:
    df = store.query("SELECT table_name FROM information_schema.tables")
    return set(df["table_name"])


def _need(store: Store, *names: str) -> bool:
    return set(names) <= tables(store)


def loads(value):
    """A JSON column value as Python (DuckDB hands JSON back as text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- overview, suites, history ----------------------------------------------------------------
def latest_scores(store: Store) -> pd.DataFrame | None:
    """Latest run per (variant, suite): one row per metric, with CI, family and sample count."""
    if not _need(store, "runs", "metrics", "suites"):
        return None
    return store.query(f"""
        SELECT l.variant, l.suite, coalesce(s.family, 'unknown') AS family, m.metric, m.value, m.ci_low, m.ci_high,
               coalesce(m.n, l.n_samples) AS n, l.engine, l.protocol, l.finished_at, l.run_id
        FROM ({LATEST_RUNS_SQL}) l
        JOIN metrics m USING (run_id)
        LEFT JOIN suites s ON s.name = l.suite AND s.version_hash = l.suite_hash
        ORDER BY family, l.suite, l.variant, m.metric
    """)


def variants(store: Store) -> pd.DataFrame | None:
    if not _need(store, "variants"):
        return None
    return store.query("SELECT name, parent, base, method, kind, path, lineage, created_at FROM variants "
                       "ORDER BY created_at, name")


def suite_variants(store: Store, suite: str) -> list[str]:
    if not _need(store, "runs"):
        return []
    df = store.query("SELECT DISTINCT variant FROM runs WHERE suite = ? ORDER BY variant", [suite])
    return list(df["variant"])


def sample_diff(store: Store, suite: str, a: str, b: str) -> pd.DataFrame | None:
    """The latest runs of variants ``a`` and ``b`` on ``suite``, joined item by item on doc_id."""
    if not _need(store, "runs", "samples"):
        return None
    return store.query(f"""
        WITH l AS ({LATEST_RUNS_SQL})
        SELECT coalesce(sa.doc_id, sb.doc_id) AS doc_id, coalesce(sa.sample_idx, sb.sample_idx) AS sample_idx,
               coalesce(sa.target, sb.target) AS target,
               sa.prediction AS pred_a, sb.prediction AS pred_b, sa.correct AS correct_a, sb.correct AS correct_b,
               sa.score AS score_a, sb.score AS score_b, sa.record AS record_a, sb.record AS record_b
        FROM (SELECT s.* FROM samples s JOIN l USING (run_id) WHERE l.variant = ? AND l.suite = ?) sa
        FULL OUTER JOIN (SELECT s.* FROM samples s JOIN l USING (run_id) WHERE l.variant = ? AND l.suite = ?) sb
             ON sa.doc_id = sb.doc_id
        ORDER BY sample_idx
    """, [a, suite, b, suite])


def suite_answers(store: Store, suite: str) -> pd.DataFrame | None:
    """Each variant's latest run of ``suite``, item by item: what ``harness.prior`` reads to count the answers
    and bin the options' probabilities (variant, run_id, doc_id, target, prediction, correct, options,
    loglikelihoods, generated)."""
    if not _need(store, "runs", "samples"):
        return None
    return store.query(f"""
        WITH l AS ({LATEST_RUNS_SQL})
        SELECT l.variant, s.run_id, s.doc_id, s.target, s.prediction, s.correct,
               CAST(s.record->'options' AS VARCHAR) AS options,
               CAST(s.record->'loglikelihoods' AS VARCHAR) AS loglikelihoods,
               json_exists(s.record, '$.extracted') AS generated
        FROM samples s JOIN l USING (run_id) WHERE l.suite = ?
        ORDER BY l.variant, s.sample_idx
    """, [suite])


def history(store: Store, suite: str, metric: str, base: str | None = None) -> pd.DataFrame | None:
    """Every run of ``suite`` (all of them, not only the latest) for variants of one lineage."""
    if not _need(store, "runs", "metrics", "variants"):
        return None
    return store.query("""
        SELECT r.variant, coalesce(v.base, r.variant) AS base, v.method, r.finished_at, r.code_version, r.n_samples, m.value, m.ci_low, m.ci_high, r.run_id
        FROM runs r JOIN metrics m USING (run_id) LEFT JOIN variants v ON v.name = r.variant
        WHERE r.suite = ? AND m.metric = ? AND (? IS NULL OR coalesce(v.base, r.variant) = ?)
        ORDER BY r.finished_at
    """, [suite, metric, base, base])


def metric_direction(store: Store, metric: str, suite: str | None = None) -> bool:
    """Higher is better? As stored with the metric's rows (newest first), else as the suite type declares it
    (``harness.metrics``; a DB from before the direction column, or an old row, has NULL there)."""
    from suites._types.declarations import higher_is_better

    stored, suite_type = None, None
    if _need(store, "metrics", "runs") and "higher_is_better" in set(store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'metrics'")["column_name"]):
        df = store.query("""
            SELECT m.higher_is_better FROM metrics m JOIN runs r USING (run_id)
            WHERE m.metric = ? AND (? IS NULL OR r.suite = ?) AND m.higher_is_better IS NOT NULL
            ORDER BY r.finished_at DESC LIMIT 1""", [metric, suite, suite])
        stored = bool(df.iloc[0, 0]) if len(df) else None
    if suite is not None and _need(store, "suites"):
        df = store.query("SELECT type FROM suites WHERE name = ? AND type IS NOT NULL LIMIT 1", [suite])
        suite_type = df.iloc[0, 0] if len(df) else None
    return higher_is_better(metric, suite_type, stored)


def mark_regressions(df: pd.DataFrame, higher_is_better: bool = True) -> pd.DataFrame:
    """A run is a regression when its score falls below the 95% CI low of the best earlier run of
    the same lineage (same base variant); for a lower-is-better metric, above the best CI high."""
    out = df.sort_values("finished_at").reset_index(drop=True).copy()
    sign = 1 if higher_is_better else -1
    flags, best_low = [], {}
    for row in out.itertuples():
        bound = row.ci_low if higher_is_better else row.ci_high
        low = sign * (bound if pd.notna(bound) else row.value)
        prev = best_low.get(row.base)
        flags.append(prev is not None and sign * row.value < prev)
        best_low[row.base] = low if prev is None else max(prev, low)
    out["regression"] = flags
    return out


# -- learn vs forget, lineage -----------------------------------------------------------------
def forgetting_summary(store: Store) -> pd.DataFrame | None:
    if not _need(store, "forgetting_summary"):
        return None
    return store.query("""
        SELECT * EXCLUDE (rn) FROM (
            SELECT *, row_number() OVER (PARTITION BY variant, reference ORDER BY computed_at DESC) AS rn
            FROM forgetting_summary) WHERE rn = 1
        ORDER BY variant, reference_role
    """)


def forgetting_tasks(store: Store, variant: str, reference: str) -> pd.DataFrame | None:
    if not _need(store, "forgetting"):
        return None
    return store.query("""
        SELECT suite, family, metric, variant_value, reference_value, delta, ci_low, ci_high, p_value, test, n
        FROM forgetting WHERE variant = ? AND reference = ?
        QUALIFY row_number() OVER (PARTITION BY suite, metric ORDER BY computed_at DESC) = 1
        ORDER BY family, suite, metric
    """, [variant, reference])


def training_curves(store: Store, variant: str) -> pd.DataFrame | None:
    if not _need(store, "training_curves"):
        return None
    return store.query("SELECT step, epoch, train_loss, eval_loss, learning_rate, tokens_seen FROM training_curves "
                       "WHERE variant = ? ORDER BY step", [variant])


# -- audits -----------------------------------------------------------------------------------
def leakage_audits(store: Store) -> pd.DataFrame | None:
    if not _need(store, "leakage_audits"):
        return None
    return store.query("SELECT audit_id, variant, created_at, settings, summary FROM leakage_audits "
                       "ORDER BY created_at DESC")


def leakage_table(store: Store, table: str, audit_id: str) -> pd.DataFrame | None:
    """One of the per-audit leakage tables (names come from this module, never from the user)."""
    allowed = {"leakage_items", "leakage_clean_metrics", "split_overlap", "membership_inference",
               "canary_exposure", "pii_findings"}
    if table not in allowed:
        raise ValueError(table)
    if not _need(store, table):
        return None
    return store.query(f"SELECT * EXCLUDE (audit_id) FROM {table} WHERE audit_id = ?", [audit_id])


def robustness_audits(store: Store) -> pd.DataFrame | None:
    if not _need(store, "robustness_audits"):
        return None
    return store.query("SELECT audit_id, variant, suite, suite_type, metric, clean_value, n, report_path, n_issues, "
                       "giskard_issues, created_at FROM robustness_audits ORDER BY created_at DESC")


def robustness_perturbations(store: Store, audit_id: str) -> pd.DataFrame | None:
    if not _need(store, "robustness_perturbations"):
        return None
    return store.query("SELECT * EXCLUDE (audit_id) FROM robustness_perturbations WHERE audit_id = ? "
                       "ORDER BY flip_rate DESC", [audit_id])


def gate_runs(store: Store) -> pd.DataFrame | None:
    if not _need(store, "gate_runs"):
        return None
    return store.query("SELECT gate_id, candidate, baseline, passed, n_failed, created_at FROM gate_runs "
                       "ORDER BY created_at DESC")


def gate_results(store: Store, gate_id: str) -> pd.DataFrame | None:
    if not _need(store, "gate_results"):
        return None
    return store.query("SELECT rule, suite, status, observed, threshold, p_value, detail FROM gate_results "
                       "WHERE gate_id = ? ORDER BY passed, rule, suite", [gate_id])


# -- the rubric page (pages/rubric.py): per-tag scores with CIs, the judge's agreement, conversations --
def judge_of(settings) -> str | None:
    """The judge id a rubric run was graded by (its protocol's ``extraction``: ``rubric judge=<id> prompt=<v>``)."""
    try:
        proto = (json.loads(settings) if isinstance(settings, str) else settings or {}).get("protocol") or {}
    except ValueError:
        return None
    text = str(proto.get("extraction") or "")
    if not text.startswith("rubric judge="):
        return None
    judge, _, version = text[len("rubric judge="):].rpartition(" prompt=")
    return f"{judge} ({version})"


def rubric_scores(store: Store) -> pd.DataFrame | None:
    """Latest run per (variant, rubric suite): rubric_score and every tag_score_<tag> with CIs, the judge, and the
    judge's latest agreement with human labels (macro F1, kappa; NaN when it was never checked)."""
    if not _need(store, "runs", "metrics", "suites", "judge_agreement"):
        return None
    df = store.query(f"""
        SELECT l.variant, l.suite, l.run_id, m.metric, m.value, m.ci_low, m.ci_high, m.n, r.settings
        FROM ({LATEST_RUNS_SQL}) l
        JOIN metrics m USING (run_id)
        JOIN runs r USING (run_id)
        JOIN suites s ON s.name = l.suite AND s.version_hash = l.suite_hash
        WHERE s.type = 'rubric' AND (m.metric = 'rubric_score' OR m.metric LIKE 'tag_score_%')
        ORDER BY l.suite, l.variant, m.metric
    """)
    if df.empty:
        return df
    df["judge"] = df.pop("settings").map(judge_of)
    df["tag"] = df["metric"].str.removeprefix("tag_score_").where(df["metric"] != "rubric_score", "(overall)")
    agree = store.query("""
        SELECT judge_id || ' (' || prompt_version || ')' AS judge, macro_f1 AS judge_macro_f1, kappa AS judge_kappa,
               n AS judge_labels_n
        FROM (SELECT *, row_number() OVER (PARTITION BY judge_id, prompt_version ORDER BY created_at DESC) AS rn
              FROM judge_agreement) WHERE rn = 1""")
    return df.merge(agree, on="judge", how="left")


def conversations(store: Store, run_id: str) -> pd.DataFrame:
    """One row per conversation of a rubric run: id, score, the answer, and its graded criteria."""
    df = store.query("SELECT sample_idx, doc_id, score, record FROM samples WHERE run_id = ? ORDER BY sample_idx",
                     [run_id])
    recs = df.pop("record").map(lambda r: json.loads(r) if isinstance(r, str) else (r or {}))
    df["response"] = recs.map(lambda r: r.get("response"))
    df["messages"] = recs.map(lambda r: r.get("messages") or [])
    df["criteria"] = recs.map(lambda r: r.get("criteria") or [])
    return df
