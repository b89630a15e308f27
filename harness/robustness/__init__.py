"""Robustness audits: how much a variant's scores move under meaning-preserving text edits.

``run_audit(suite, lm, docs, variant)`` -> ``RobustnessAudit`` (paired per-perturbation results; with
giskard installed, the extra ``medtune[giskard]``, also its scan's issues and HTML report);
``save_audit(store, audit)`` writes it (tables of migration 007). giskard is imported only when its
scan runs.
"""

from harness.robustness._adapters import SUPPORTED_TYPES, adapter_for, check_supported
from harness.robustness._audit import DEFAULT_THRESHOLD, RobustnessAudit, run_audit
from harness.robustness._perturbations import PERTURBATIONS, PerturbationResult
from harness.robustness._store import latest_audit, save_audit

__all__ = ["DEFAULT_THRESHOLD", "PERTURBATIONS", "PerturbationResult", "RobustnessAudit", "SUPPORTED_TYPES",
           "adapter_for", "check_supported", "latest_audit", "run_audit", "save_audit"]
