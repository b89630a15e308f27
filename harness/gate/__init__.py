"""The CI gate: judge a candidate variant against a policy, from the results DB only.

Public API: ``load_policy(path)``, ``run_gate(store, policy, candidate, baseline)`` -> ``GateReport``,
``junit_xml(report)``, ``markdown(report)``, ``check_outputs`` (report paths, before any work),
``write_outputs`` (atomic), ``record``.
"""

from harness.gate.gate import GateReport, run_gate
from harness.gate.policy import RULES, Policy, load_policy
from harness.gate.report import check_outputs, junit_xml, markdown, record, write_outputs

__all__ = ["GateReport", "Policy", "RULES", "check_outputs", "junit_xml", "load_policy", "markdown", "record",
           "run_gate", "write_outputs"]
