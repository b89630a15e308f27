"""Write an audit to the DB (tables from migration 007) in one short transaction, and read them back."""

from __future__ import annotations

from harness.store.db import Store, to_json
from harness.store.runs import code_version


def save_audit(store: Store, audit) -> None:
    with store.connect(write=True) as con:
        con.execute(
            "INSERT INTO robustness_audits (audit_id, variant, suite, suite_type, metric, clean_value, n, settings, "
            "report_path, giskard_issues, n_issues, code_version, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [audit.audit_id, audit.variant, audit.suite, audit.suite_type, audit.metric, audit.clean_value, audit.n,
             to_json(audit.settings), audit.report_path, to_json(audit.giskard_issues), len(audit.giskard_issues),
             code_version(), audit.duration_s],
        )
        con.executemany(
            "INSERT INTO robustness_perturbations (audit_id, perturbation, metric, clean_value, perturbed_value, delta, "
            "ci_low, ci_high, flip_rate, n, p_value, flagged) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [[audit.audit_id, p.perturbation, p.metric, p.clean_value, p.perturbed_value, p.delta, p.ci_low,
              p.ci_high, p.flip_rate, p.n, p.p_value, p.flagged] for p in audit.perturbations],
        )


def latest_audit(store: Store, variant: str, suite: str):
    """(audit row, perturbation rows) of the newest audit of variant x suite, as DataFrames."""
    audits = store.query("SELECT * FROM robustness_audits WHERE variant = ? AND suite = ? ORDER BY created_at DESC LIMIT 1",
                         [variant, suite])
    if audits.empty:
        return audits, audits
    rows = store.query("SELECT * FROM robustness_perturbations WHERE audit_id = ? ORDER BY perturbation",
                       [audits.audit_id[0]])
    return audits, rows
