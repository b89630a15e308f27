"""Catastrophic forgetting: what a variant lost (and gained) against its parent and its base."""

from harness.forgetting.compare import FORGETTING_TASKS, DOMAIN_SUITES, compare_runs, forgetting_report

__all__ = ["FORGETTING_TASKS", "DOMAIN_SUITES", "compare_runs", "forgetting_report"]
