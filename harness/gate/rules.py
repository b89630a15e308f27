"""Each rule judges the candidate from the store and returns one result per suite it covers.

A rule whose source (a run, a metric, an audit table) is absent reports ``not_measured`` with
the command that would measure it; the policy decides whether that counts as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.gate.catalog import SuiteInfo, unknown_metric
from harness.gate.policy import (MaxCanaryExposure, MaxContamination, MaxDrop, MaxForgettingIndex, MinScore, Policy,
                                 _SuiteRule)
from harness.gate.paired import paired_test
from harness.gate.sources import Sources
from suites._types.declarations import higher_is_better


@dataclass
class RuleResult:
    rule: str
    label: str
    suite: str | None
    status: str                # pass | fail | not_measured
    observed: float | None
    threshold: float | None
    p_value: float | None
    detail: str
    passed: bool = False       # set by the gate from status and the not_measured policy


@dataclass
class Context:
    policy: Policy
    sources: Sources
    candidate: str
    baseline: str | None
    families: dict[str, str]   # suite -> family, shipped suites and the DB's
    suites: dict[str, SuiteInfo] = field(default_factory=dict)  # suite -> family, type, declared/stored metrics


def _result(rule, suite, status, observed=None, threshold=None, p=None, detail="") -> RuleResult:
    scope = suite or getattr(rule, "scope", None)
    label = rule.name or (f"{rule.rule}[{scope}]" if scope else rule.rule)
    return RuleResult(rule.rule, label, suite, status, observed, threshold, p, detail)


def check_names(ctx: Context) -> None:
    """Unknown suites, families or metrics in the policy are input errors, named, before anything is judged.

    A metric typo would otherwise read as "not measured" (and pass under ``not_measured: pass``)."""
    known_families = {f for f in ctx.families.values() if f}
    for i, rule in enumerate(ctx.policy.rules):
        if isinstance(rule, _SuiteRule):
            if rule.suite and rule.suite not in ctx.families:
                raise ctx.policy.error(("rules", i, "suite"), f"unknown suite {rule.suite!r} "
                                       f"(known: {', '.join(sorted(ctx.families))})")
            if rule.family and rule.family not in known_families:
                raise ctx.policy.error(("rules", i, "family"), f"unknown family {rule.family!r} "
                                       f"(known: {', '.join(sorted(known_families))})")
        if isinstance(rule, (MinScore, MaxDrop)):
            in_scope = [info for name, info in ctx.suites.items()
                        if rule.suite == name or (not rule.suite and rule.family in (None, info.family))]
            scope = f"suite {rule.suite}" if rule.suite else f"family {rule.family}" if rule.family else "any suite"
            why = unknown_metric(rule.metric, scope, in_scope)
            if why:
                raise ctx.policy.error(("rules", i, "metric"), why)
        if isinstance(rule, MaxDrop) and ctx.baseline is None:
            raise ctx.policy.error(("rules", i), f"{rule.rule} compares against a baseline: pass --baseline")


def _scope(rule: _SuiteRule, ctx: Context, available: list[str]) -> list[str]:
    if rule.suite:
        return [rule.suite]
    return [s for s in available if rule.family is None or ctx.families.get(s) == rule.family]


def _not_scored(rule, ctx: Context) -> RuleResult:
    return _result(rule, rule.suite or rule.family, "not_measured",
                   detail=f"{ctx.candidate} has no run of {rule.scope}: run `medtune eval --variant {ctx.candidate} "
                          f"--suite {rule.suite or rule.family or 'all'}`")


def min_score(rule: MinScore, ctx: Context) -> list[RuleResult]:
    suites = _scope(rule, ctx, ctx.sources.scored_suites(ctx.candidate))
    out = []
    for suite in suites:
        row = ctx.sources.latest_metric(ctx.candidate, suite, rule.metric)
        if row is None:
            if rule.suite:
                out.append(_not_scored(rule, ctx))
            continue
        observed = row["ci_low"] if rule.bound == "ci_low" and row["ci_low"] == row["ci_low"] else row["value"]
        ok = observed >= rule.min
        out.append(_result(rule, suite, "pass" if ok else "fail", observed, rule.min, None,
                           f"{rule.metric} {'CI low ' if rule.bound == 'ci_low' else ''}{observed:.3f} "
                           f"{'>=' if ok else '<'} {rule.min:.3f} (n={row['n']})"))
    return out or [_not_scored(rule, ctx)]


def max_drop(rule: MaxDrop, ctx: Context) -> list[RuleResult]:
    alpha = rule.significance or ctx.policy.significance
    suites = _scope(rule, ctx, ctx.sources.scored_suites(ctx.candidate))
    out = []
    for suite in suites:
        cand = ctx.sources.latest_metric(ctx.candidate, suite, rule.metric)
        base = ctx.sources.latest_metric(ctx.baseline, suite, rule.metric)
        if cand is None or base is None:
            if rule.suite or cand is not None:
                who = ctx.candidate if cand is None else ctx.baseline
                out.append(_result(rule, suite, "not_measured", detail=f"{who} has no {rule.metric} on {suite}: run "
                                   f"`medtune eval --variant {who} --suite {suite}`"))
            continue
        a, b = ctx.sources.paired(suite, cand["run_id"], base["run_id"])
        suite_type = ctx.suites[suite].type if suite in ctx.suites else None
        test, test_name = paired_test(rule.metric, a, b, rule.test, suite_type)
        sign = 1 if higher_is_better(rule.metric, suite_type, cand.get("higher_is_better")) else -1
        drop = sign * (base["value"] - cand["value"])
        significant = test.p_value is not None and test.p_value < alpha
        ok = drop <= rule.max_drop or not significant
        why = (f"drop {drop:+.3f} {'>' if drop > rule.max_drop else '<='} {rule.max_drop:.3f} allowed; "
               f"{test_name} p={test.p_value:.3g} "
               f"{'<' if significant else '>='} {alpha:g}")
        if drop > rule.max_drop and not significant:
            why += " (not significant: passes)"
        out.append(_result(rule, suite, "pass" if ok else "fail", drop, rule.max_drop, test.p_value,
                           f"{rule.metric} {base['value']:.3f} -> {cand['value']:.3f}: {why}, n={test.n}"))
    return out or [_not_scored(rule, ctx)]


def max_forgetting_index(rule: MaxForgettingIndex, ctx: Context) -> list[RuleResult]:
    if not ctx.sources.has("forgetting_summary"):
        return [_result(rule, None, "not_measured", detail="no forgetting tables in the DB: run "
                        f"`medtune forgetting --variant {ctx.candidate}`")]
    reference = ctx.baseline if rule.reference == "baseline" else None
    role = None if rule.reference == "baseline" else rule.reference
    row = ctx.sources.forgetting(ctx.candidate, reference, role)
    if row is None or row["forgetting_index"] != row["forgetting_index"]:
        against = reference or f"its {role}"
        return [_result(rule, None, "not_measured", detail=f"no forgetting index for {ctx.candidate} against "
                        f"{against}: run `medtune forgetting --variant {ctx.candidate}`")]
    fi = float(row["forgetting_index"])
    ok = fi <= rule.max
    return [_result(rule, None, "pass" if ok else "fail", fi, rule.max, None,
                    f"forgetting index {fi:.3f} [{row['fi_ci_low']:.3f}, {row['fi_ci_high']:.3f}] vs "
                    f"{row['reference']} ({row['reference_role']}) {'<=' if ok else '>'} {rule.max:.3f}")]


def max_contamination(rule: MaxContamination, ctx: Context) -> list[RuleResult]:
    hint = f"run `medtune audit leakage --variant {ctx.candidate}`"
    if not ctx.sources.has("leakage_audits", "leakage_items"):
        return [_result(rule, rule.suite or rule.family, "not_measured", detail=f"no leakage tables in the DB: {hint}")]
    audit = ctx.sources.latest_leakage_audit(ctx.candidate, "leakage_items")
    counts = ctx.sources.contamination(audit) if audit else None
    out = []
    if counts is not None:
        by_suite = counts.set_index("suite")
        for suite in _scope(rule, ctx, list(by_suite.index)):
            if suite not in by_suite.index:
                continue
            items, bad = int(by_suite.at[suite, "items"]), int(by_suite.at[suite, "contaminated"])
            ratio = bad / items if items else 0.0
            ok = ratio <= rule.max_ratio
            out.append(_result(rule, suite, "pass" if ok else "fail", ratio, rule.max_ratio, None,
                               f"{bad} of {items} items contaminated ({ratio:.1%}) {'<=' if ok else '>'} "
                               f"{rule.max_ratio:.1%} allowed (audit {audit})"))
    return out or [_result(rule, rule.suite or rule.family, "not_measured",
                           detail=f"no contamination check of {rule.scope} for {ctx.candidate}: {hint}")]


def max_canary_exposure(rule: MaxCanaryExposure, ctx: Context) -> list[RuleResult]:
    hint = f"run `medtune audit leakage --variant {ctx.candidate}` with canaries"
    if not ctx.sources.has("leakage_audits", "canary_exposure"):
        return [_result(rule, None, "not_measured", detail=f"no leakage tables in the DB: {hint}")]
    audit = ctx.sources.latest_leakage_audit(ctx.candidate, "canary_exposure")
    if audit is None:
        return [_result(rule, None, "not_measured", detail=f"no canary exposure measured for {ctx.candidate}: {hint}")]
    rows = ctx.sources.canaries(audit)
    top = rows.iloc[0]
    ok = top["exposure"] <= rule.max
    return [_result(rule, None, "pass" if ok else "fail", float(top["exposure"]), rule.max, None,
                    f"highest exposure {top['exposure']:.2f} bits ({top['canary_id']}, "
                    f"{'reproduced' if top['reproduced'] else 'not reproduced'}) {'<=' if ok else '>'} {rule.max:.2f}; "
                    f"{len(rows)} canaries (audit {audit})")]


JUDGES = {"min_score": min_score, "max_drop": max_drop, "max_forgetting_index": max_forgetting_index,
          "max_contamination": max_contamination, "max_canary_exposure": max_canary_exposure}
