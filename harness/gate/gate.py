"""Run a policy against a candidate (and baseline) variant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from harness.errors import MedtuneError
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


def _shipped_families() -> dict[str, str]:
    from suites import list_suites, load_suite

    out = {}
    for name in list_suites():
        try:
            out[name] = load_suite(name).spec.family
        except MedtuneError:  # a broken suite file is that suite's problem, not the gate's
            continue
    return out


def run_gate(store: Store, policy: Policy, candidate: str, baseline: str | None = None,
             policy_path: str = "") -> GateReport:
    """Judge every rule; raise MedtuneError for bad input (unknown variant, suite, family; unpaired items)."""
    sources = Sources(store)
    for role, name in (("candidate", candidate), ("baseline", baseline)):
        if name is not None and sources.variant(name) is None:
            known = ", ".join(sources.variant_names()) or "none"
            raise MedtuneError(f"{role} variant {name!r} is not in {store.path} (known variants: {known})")
    ctx = Context(policy, sources, candidate, baseline, {**_shipped_families(), **sources.suite_families()})
    check_names(ctx)
    results = []
    for rule in policy.rules:
        counts_as = rule.not_measured or policy.not_measured
        for result in JUDGES[rule.rule](rule, ctx):
            result.passed = result.status == "pass" or (result.status == "not_measured" and counts_as == "pass")
            results.append(result)
    return GateReport(candidate, baseline, policy, results, policy_path)
