"""Each rule judges the candidate from the store and returns one result per suite it covers.

A rule whose source (a run, a metric, an audit table) is absent reports ``not_measured`` with
the command that would measure it; the policy decides whether that counts as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.gate.catalog import SuiteInfo, unknown_metric
from harness.gate.policy import (BeatsMajorityBaseline, MaxAnswerShare, MaxCalibrationError, MaxCanaryExposure,
                                 MaxContamination, MaxDrop, MaxForgettingIndex, MinScore, Policy,
                                 impossible_min,
                                 _SuiteRule)
from harness.gate.paired import paired_test
from harness.gate.sources import Sources
from suites._types.declarations import higher_is_better, metric_def


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
    metric: str | None = None  # the metric judged, where the rule judges one (max_drop, max_calibration_error)


@dataclass
class Context:
    policy: Policy
    sources: Sources
    candidate: str
    baseline: str | None
    families: dict[str, str]   # suite -> family, shipped suites and the DB's
    suites: dict[str, SuiteInfo] = field(default_factory=dict)  # suite -> family, type, declared/stored metrics


def _result(rule, suite, status, observed=None, threshold=None, p=None, detail="", metric=None) -> RuleResult:
    scope = suite or getattr(rule, "scope", None)
    label = rule.name or (f"{rule.rule}[{scope}]" if scope else rule.rule)
    if isinstance(rule, MaxDrop) and rule.metric == "all" and metric:  # one result per suite and metric
        label = f"{rule.name or rule.rule}[{scope}:{metric}]"
    return RuleResult(rule.rule, label, suite, status, observed, threshold, p, detail, metric=metric)


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
        if isinstance(rule, (MinScore, MaxDrop)) and not (isinstance(rule, MaxDrop) and rule.metric == "all"):
            in_scope = [info for name, info in ctx.suites.items()
                        if rule.suite == name or (not rule.suite and rule.family in (None, info.family))]
            scope = f"suite {rule.suite}" if rule.suite else f"family {rule.family}" if rule.family else "any suite"
            why = unknown_metric(rule.metric, scope, in_scope)
            if why:
                raise ctx.policy.error(("rules", i, "metric"), why)
        never = impossible_min(rule)
        if never:
            raise ctx.policy.error(("rules", i, "min"), never)
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
    """One metric per suite, or (``metric: all``) every metric the candidate's run of the suite stored that
    its suite type compares (a declared paired test; undeclared ones by their per-item values)."""
    alpha = rule.significance or ctx.policy.significance
    suites = _scope(rule, ctx, ctx.sources.scored_suites(ctx.candidate))
    out = []
    for suite in suites:
        suite_type = ctx.suites[suite].type if suite in ctx.suites else None
        if rule.metric != "all":
            out += _drop(rule, ctx, suite, rule.metric, suite_type, alpha, {})
            continue
        run = ctx.sources.latest_run(ctx.candidate, suite)
        if run is None:
            if rule.suite:
                out.append(_not_scored(rule, ctx))
            continue
        pairs: dict = {}  # the same two runs for every metric of the suite: paired once
        for metric in ctx.sources.run_metrics(run):
            declared = metric_def(metric, suite_type)
            if declared is None or declared.test is not None:  # a reported-only count (test None) is not judged
                out += _drop(rule, ctx, suite, metric, suite_type, alpha, pairs)
    return out or [_not_scored(rule, ctx)]


def _drop(rule: MaxDrop, ctx: Context, suite: str, metric: str, suite_type: str | None, alpha: float,
          pairs: dict) -> list[RuleResult]:
    cand = ctx.sources.latest_metric(ctx.candidate, suite, metric)
    base = ctx.sources.latest_metric(ctx.baseline, suite, metric)
    if cand is None or base is None:
        if rule.suite or cand is not None:
            who = ctx.candidate if cand is None else ctx.baseline
            return [_result(rule, suite, "not_measured", detail=f"{who} has no {metric} on {suite}: run "
                            f"`medtune eval --variant {who} --suite {suite}`", metric=metric)]
        return []
    key = (cand["run_id"], base["run_id"])
    if key not in pairs:
        pairs[key] = ctx.sources.paired(suite, *key)
    a, b = pairs[key]
    test, test_name = paired_test(metric, a, b, rule.test, suite_type)
    sign = 1 if higher_is_better(metric, suite_type, cand.get("higher_is_better")) else -1
    drop = sign * (base["value"] - cand["value"])
    significant = test.p_value is not None and test.p_value < alpha
    ok = drop <= rule.max_drop or not significant
    why = (f"drop {drop:+.3f} {'>' if drop > rule.max_drop else '<='} {rule.max_drop:.3f} allowed; "
           f"{test_name} p={test.p_value:.3g} "
           f"{'<' if significant else '>='} {alpha:g}")
    if drop > rule.max_drop and not significant:
        why += " (not significant: passes)"
    direction = "" if sign > 0 else " (lower is better)"
    return [_result(rule, suite, "pass" if ok else "fail", drop, rule.max_drop, test.p_value,
                    f"{metric}{direction} {base['value']:.3f} -> {cand['value']:.3f}: {why}, n={test.n}",
                    metric=metric)]


# -- the answer prior (harness.prior) ------------------------------------------------------------------
def _answer_runs(rule: _SuiteRule, ctx: Context) -> tuple[list, list[RuleResult]]:
    """(suite, AnswerMix) of the candidate's latest run of each suite in scope that has answers to count, and
    the not-measured results of a named suite that has none."""
    found, missing = [], []
    for suite in _scope(rule, ctx, ctx.sources.scored_suites(ctx.candidate)):
        run = ctx.sources.latest_run(ctx.candidate, suite)
        if run is None:
            if rule.suite:
                missing.append(_not_scored(rule, ctx))
            continue
        mix = ctx.sources.answer_mix(run)
        if mix is None:
            if rule.suite:
                missing.append(_result(rule, suite, "not_measured", detail=f"{ctx.candidate}'s run of {suite} has no "
                                       "answers to count (only multiple-choice and generated-label runs have)"))
            continue
        found.append((suite, mix))
    if not found and not missing:
        missing.append(_result(rule, rule.suite or rule.family, "not_measured",
                               detail=f"{ctx.candidate} has no multiple-choice or label run of {rule.scope}: run "
                                      f"`medtune eval --variant {ctx.candidate} --suite {rule.suite or rule.family or 'all'}`"))
    return found, missing


def beats_majority_baseline(rule: BeatsMajorityBaseline, ctx: Context) -> list[RuleResult]:
    alpha = rule.significance or ctx.policy.significance
    found, out = _answer_runs(rule, ctx)
    for suite, mix in found:
        ok = mix.beats(alpha)
        head = (f"beats always answering {mix.name(mix.majority)}" if ok else
                f"does not beat always answering {mix.name(mix.majority)}")
        detail = (f"{head} (the commonest gold answer): acc {mix.acc:.3f} vs {mix.majority_acc:.3f}; exact one-sided "
                  f"McNemar p={mix.p_value:.3g} {'<' if ok else '>='} {alpha:g} ({mix.wins} items won, "
                  f"{mix.losses} lost, n={mix.n})")
        if not ok:
            detail += f"; it {mix.answers_text()}"
        out.append(_result(rule, suite, "pass" if ok else "fail", mix.acc, mix.majority_acc, mix.p_value, detail))
    return out


def max_answer_share(rule: MaxAnswerShare, ctx: Context) -> list[RuleResult]:
    found, out = _answer_runs(rule, ctx)
    for suite, mix in found:
        allowed = min(1.0, max(rule.max_share, mix.top_gold_share + rule.slack))
        share = mix.top_share
        ok = share <= allowed
        why = (f"{'<=' if ok else '>'} {allowed:.0%} allowed" +
               ("" if allowed == rule.max_share else f" (its gold share {mix.top_gold_share:.0%} + {rule.slack:g})"))
        detail = f"{mix.answers_text()} {why}"
        if not ok:
            detail += "; the score may be the label prior, not the task"
        out.append(_result(rule, suite, "pass" if ok else "fail", share, allowed, None, detail))
    return out


def max_calibration_error(rule: MaxCalibrationError, ctx: Context) -> list[RuleResult]:
    how = {"ece": "10 equal-width bins of the top option's probability",
           "brier": "mean over items of the options' squared probability error"}[rule.metric]
    out = []
    for suite in _scope(rule, ctx, ctx.sources.scored_suites(ctx.candidate)):
        row = ctx.sources.latest_metric(ctx.candidate, suite, rule.metric)
        if row is None:
            if rule.suite:
                out.append(_result(rule, suite, "not_measured", metric=rule.metric, detail=(
                    f"{ctx.candidate}'s run of {suite} stored no {rule.metric} (only multiple-choice runs of the native "
                    f"engine have option probabilities; an older run: `medtune eval --variant {ctx.candidate} "
                    f"--suite {suite} --force`)")))
            continue
        value = float(row["value"])
        ok = value <= rule.max
        has_ci = all(row.get(k) is not None and row[k] == row[k] for k in ("ci_low", "ci_high"))
        ci = f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" if has_ci else ""
        out.append(_result(rule, suite, "pass" if ok else "fail", value, rule.max, None,
                           f"{rule.metric} {value:.3f}{ci} {'<=' if ok else '>'} {rule.max:.3f} allowed ({how}; "
                           f"n={row['n']})", metric=rule.metric))
    return out or [_result(rule, rule.suite or rule.family, "not_measured", metric=rule.metric,
                           detail=f"{ctx.candidate} has no {rule.metric} on {rule.scope}: score a multiple-choice suite "
                                  f"with `medtune eval --variant {ctx.candidate} --suite ...`")]


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
          "max_contamination": max_contamination, "max_canary_exposure": max_canary_exposure,
          "beats_majority_baseline": beats_majority_baseline, "max_answer_share": max_answer_share,
          "max_calibration_error": max_calibration_error}
