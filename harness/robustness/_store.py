"""Write an audit to the DB (tables from migration 007) in one short transaction, and read them back
(the SQL lives in ``harness.store.robustness``). An audit without giskard's scan has NULL
``giskard_issues``, ``n_issues`` and ``report_path``."""

from __future__ import annotations

from harness.store import robustness as db
from harness.store.db import Store
from harness.store.records import RobustnessAudit, RobustnessPerturbation
from harness.store.runs import code_version


def save_audit(store: Store, audit) -> None:
    row = RobustnessAudit(
        audit_id=audit.audit_id, variant=audit.variant, suite=audit.suite, suite_type=audit.suite_type,
        metric=audit.metric, clean_value=audit.clean_value, n=audit.n, settings=audit.settings,
        report_path=audit.report_path, giskard_issues=audit.giskard_issues,
        n_issues=None if audit.giskard_issues is None else len(audit.giskard_issues),  # None: no giskard scan
        code_version=code_version(), duration_s=audit.duration_s)
    perturbations = [RobustnessPerturbation(
        audit_id=audit.audit_id, perturbation=p.perturbation, metric=p.metric, clean_value=p.clean_value,
        perturbed_value=p.perturbed_value, delta=p.delta, ci_low=p.ci_low, ci_high=p.ci_high, flip_rate=p.flip_rate,
        n=p.n, p_value=p.p_value, flagged=p.flagged) for p in audit.perturbations]
    db.save(store, row, perturbations)


def latest_audit(store: Store, variant: str, suite: str):
    """(audit row, perturbation rows) of the newest audit of variant x suite, as DataFrames."""
    return db.latest(store, variant, suite)
