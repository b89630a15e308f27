"""What the gate reads from the store: latest runs, paired per-item scores, audit tables.

Every read is one short read-only query in ``harness.store`` (the store migrates on open, so every
table exists). A function with nothing to read returns ``None``, which the rules report as "not measured".
"""

from __future__ import annotations

import json

import pandas as pd

from harness.errors import MedtuneError
from harness.store import Store
from harness.store import forgetting, leakage, runs, variants
from harness.store.db import has_rows

class Sources:
    def __init__(self, store: Store):
        self.store = store
        self._filled: dict[str, bool] = {}

    def has(self, *tables: str) -> bool:
        """Whether every one of ``tables`` holds rows (an audit that never ran leaves its tables empty)."""
        for t in tables:
            if t not in self._filled:
                self._filled[t] = has_rows(self.store, t)
        return all(self._filled[t] for t in tables)

    # -- variants and suites ---------------------------------------------------------------
    def variant(self, name: str) -> dict | None:
        row = variants.get_variant(self.store, name)
        return {k: row[k] for k in ("name", "parent", "base")} if row else None

    def variant_names(self) -> list[str]:
        return variants.variant_names(self.store)

    def suite_rows(self) -> list[tuple]:
        """(name, family, type, spec JSON) of every suite version the DB has seen."""
        return runs.suite_rows(self.store)

    def stored_metrics(self) -> list[tuple[str, str]]:
        """(suite, metric) for every metric any run stored."""
        return runs.stored_metrics(self.store)

    def scored_suites(self, variant: str) -> list[str]:
        return runs.scored_suites(self.store, variant)

    # -- scores ----------------------------------------------------------------------------
    def latest_metric(self, variant: str, suite: str, metric: str) -> dict | None:
        """The latest run's metric row: run_id, value, ci_low, ci_high, n (None if no such run/metric)."""
        return runs.latest_metric(self.store, variant, suite, metric)

    def latest_run(self, variant: str, suite: str) -> str | None:
        """The run_id of the variant's latest run of ``suite``."""
        return runs.latest_run_id(self.store, variant, suite)

    def run_metrics(self, run_id: str) -> list[str]:
        """The names of the metrics a run stored."""
        return [m.metric for m in runs.metric_rows(self.store, run_id)]

    def answer_mix(self, run_id: str):
        """The run's answer distribution and majority baseline (``harness.prior``); None: no answers to count."""
        from harness.prior import run_mix

        return run_mix(self.store, run_id)

    def item_scores(self, run_id: str) -> dict[str, dict]:
        """doc_id -> the item's per-metric scores (samples.scores), its primary score under ``_score``."""
        df = runs.sample_scores(self.store, run_id)
        out = {}
        for doc_id, score, scores in zip(df["doc_id"].astype(str), df["score"], df["scores"]):
            item = json.loads(scores) if isinstance(scores, str) else {}
            out[doc_id] = {**item, "_score": score}
        return out

    def paired(self, suite: str, cand_run: str, base_run: str) -> tuple[list[dict], list[dict]]:
        """Candidate and baseline per-item scores on the same items, aligned by doc_id.

        Different item sets, or runs scored under different protocols (suites._protocol), are an input
        error: a paired test on different items, or across protocols, means nothing.
        """
        from suites._protocol import check_pairable

        check_pairable(self.store, suite, cand_run, base_run)  # different protocols: no meaningful delta
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
        return forgetting.latest_summary(self.store, variant, reference, role)

    def latest_leakage_audit(self, variant: str, table: str) -> str | None:
        """The newest leakage audit of ``variant`` that wrote rows to ``table``."""
        return leakage.latest_audit_with(self.store, variant, table)

    def contamination(self, audit_id: str) -> pd.DataFrame:
        return leakage.contamination_counts(self.store, audit_id)

    def canaries(self, audit_id: str) -> pd.DataFrame:
        return leakage.canaries(self.store, audit_id)
