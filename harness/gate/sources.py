"""What the gate reads from the store: latest runs, paired per-item scores, audit tables.

Every read is one short read-only query (``Store.query``). A function whose source table is
absent returns ``None``, which the rules report as "not measured".
"""

from __future__ import annotations

import json

import pandas as pd

from harness.errors import MedtuneError
from harness.store import Store
from harness.store.runs import LATEST_RUNS_SQL

class Sources:
    def __init__(self, store: Store):
        self.store = store
        self.tables = set(store.query("SELECT table_name FROM information_schema.tables")["table_name"])

    def has(self, *names: str) -> bool:
        return set(names) <= self.tables

    # -- variants and suites ---------------------------------------------------------------
    def variant(self, name: str) -> dict | None:
        if not self.has("variants"):
            return None
        df = self.store.query("SELECT name, parent, base FROM variants WHERE name = ?", [name])
        return df.iloc[0].to_dict() if len(df) else None

    def variant_names(self) -> list[str]:
        if not self.has("variants"):
            return []
        return list(self.store.query("SELECT name FROM variants ORDER BY name")["name"])

    def suite_rows(self) -> list[tuple]:
        """(name, family, type, spec JSON) of every suite version the DB has seen."""
        if not self.has("suites"):
            return []
        df = self.store.query("SELECT name, family, type, spec FROM suites ORDER BY created_at")
        return list(df.itertuples(index=False, name=None))

    def stored_metrics(self) -> list[tuple[str, str]]:
        """(suite, metric) for every metric any run stored."""
        if not self.has("runs", "metrics"):
            return []
        df = self.store.query("SELECT DISTINCT r.suite, m.metric FROM runs r JOIN metrics m USING (run_id)")
        return list(df.itertuples(index=False, name=None))

    def scored_suites(self, variant: str) -> list[str]:
        if not self.has("runs"):
            return []
        return list(self.store.query("SELECT DISTINCT suite FROM runs WHERE variant = ? ORDER BY suite",
                                     [variant])["suite"])

    # -- scores ----------------------------------------------------------------------------
    def latest_metric(self, variant: str, suite: str, metric: str) -> dict | None:
        """The latest run's metric row: run_id, value, ci_low, ci_high, n (None if no such run/metric)."""
        if not self.has("runs", "metrics"):
            return None
        df = self.store.query(f"""
            SELECT l.run_id, m.value, m.ci_low, m.ci_high, coalesce(m.n, l.n_samples) AS n
            FROM ({LATEST_RUNS_SQL}) l JOIN metrics m USING (run_id)
            WHERE l.variant = ? AND l.suite = ? AND m.metric = ?""", [variant, suite, metric])
        return df.iloc[0].to_dict() if len(df) else None

    def item_scores(self, run_id: str) -> dict[str, dict]:
        """doc_id -> the item's per-metric scores (samples.scores), its primary score under ``_score``."""
        df = self.store.query("SELECT doc_id, score, scores FROM samples WHERE run_id = ? ORDER BY sample_idx",
                              [run_id])
        out = {}
        for doc_id, score, scores in zip(df["doc_id"].astype(str), df["score"], df["scores"]):
            item = json.loads(scores) if isinstance(scores, str) else {}
            out[doc_id] = {**item, "_score": score}
        return out

    def paired(self, suite: str, cand_run: str, base_run: str) -> tuple[list[dict], list[dict]]:
        """Candidate and baseline per-item scores on the same items, aligned by doc_id.

        Different item sets are an input error: a paired test on different items means nothing.
        """
        a, b = self.item_scores(cand_run), self.item_scores(base_run)
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        if only_a or only_b:
            example = (only_a + only_b)[0]
            raise MedtuneError(
                f"suite {suite}: candidate run {cand_run} and baseline run {base_run} scored different items "
                f"({len(only_a)} only in the candidate, {len(only_b)} only in the baseline, e.g. {example!r}); "
                "score both with the same suite version and --limit")
        return list(a.values()), [b[k] for k in a]

    # -- audits ----------------------------------------------------------------------------
    def forgetting(self, variant: str, reference: str | None, role: str | None) -> dict | None:
        df = self.store.query("""
            SELECT * FROM forgetting_summary WHERE variant = ? AND (? IS NULL OR reference = ?)
              AND (? IS NULL OR reference_role = ?)
            ORDER BY computed_at DESC LIMIT 1""", [variant, reference, reference, role, role])
        return df.iloc[0].to_dict() if len(df) else None

    def latest_leakage_audit(self, variant: str, table: str) -> str | None:
        """The newest leakage audit of ``variant`` that wrote rows to ``table``."""
        df = self.store.query(f"""
            SELECT a.audit_id FROM leakage_audits a
            WHERE a.variant = ? AND EXISTS (SELECT 1 FROM {table} t WHERE t.audit_id = a.audit_id)
            ORDER BY a.created_at DESC LIMIT 1""", [variant])
        return df["audit_id"].iloc[0] if len(df) else None

    def contamination(self, audit_id: str) -> pd.DataFrame:
        return self.store.query("""
            SELECT suite, count(*) AS items, count(*) FILTER (WHERE contaminated) AS contaminated
            FROM leakage_items WHERE audit_id = ? GROUP BY suite ORDER BY suite""", [audit_id])

    def canaries(self, audit_id: str) -> pd.DataFrame:
        return self.store.query("SELECT canary_id, exposure, reproduced FROM canary_exposure WHERE audit_id = ? "
                                "ORDER BY exposure DESC", [audit_id])
