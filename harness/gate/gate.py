"""Run a policy against a candidate (and baseline) variant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from harness.errors import MedtuneError
from harness.gate.catalog import suite_catalog
from harness.gate.policy import Policy
from harness.gate.rules import JUDGES, Context, RuleResult, check_names
from harness.gate.sources import Sources
from harness.store import Store


@dataclass
class GateReport:
    candidate: str
    baseline: str | None
    policy: Policy
    results: list[RuleResult]
    policy_path: str = ""
    gate_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failed


def run_gate(store: Store, policy: Policy, candidate: str, baseline: str | None = None,
             policy_path: str = "") -> GateReport:
    """Judge every rule; raise MedtuneError for bad input (unknown variant, suite, family; unpaired items)."""
    sources = Sources(store)
    for role, name in (("candidate", candidate), ("baseline", baseline)):
        if name is not None and sources.variant(name) is None:
            known = ", ".join(sources.variant_names()) or "none"
            raise MedtuneError(f"{role} variant {name!r} is not in {store.path} (known variants: {known})")
    if baseline is not None and baseline == candidate:
        raise MedtuneError(f"the baseline is the candidate itself ({candidate!r}): compare against another variant, "
                           "e.g. its parent, or leave out --baseline")
    suites = suite_catalog(sources)
    ctx = Context(policy, sources, candidate, baseline, {n: s.family for n, s in suites.items()}, suites)
    check_names(ctx)
    results = []
    for rule in policy.rules:
        counts_as = rule.not_measured or policy.not_measured
        for result in JUDGES[rule.rule](rule, ctx):
            result.passed = result.status == "pass" or (result.status == "not_measured" and counts_as == "pass")
            results.append(result)
    return GateReport(candidate, baseline, policy, results, policy_path)
