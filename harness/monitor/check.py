"""``medtune monitor check``: the policy's rules judged on every tested window; reports like ``medtune gate``.

Each rule gives one result per tested window (``pass`` | ``fail`` | ``not_measured``). The check fails
(exit 1) when any result fails. JUnit XML (one testcase per rule and window) and Markdown are written with
the gate's atomic writer; the rows go to ``monitor_runs`` / ``monitor_alerts`` with the analysis.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.errors import MedtuneError
from harness.monitor import stats
from harness.monitor.analysis import Analysis, Grader, Settings, analyse, save, window_label
from harness.monitor.policy import MonitorPolicy
from harness.store import Store
from harness.store.records import MonitorAlert


@dataclass
class Result:
    rule: str
    label: str
    window_start: datetime | None
    status: str                 # pass | fail | not_measured
    observed: float | None
    threshold: float | None
    p_value: float | None
    detail: str
    passed: bool = True


@dataclass
class CheckReport:
    variant: str
    policy: MonitorPolicy
    analysis: Analysis
    results: list[Result]
    policy_path: str = ""

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def failed_windows(self) -> list[datetime]:
        return sorted({r.window_start for r in self.failed if r.window_start is not None})


def settings_for(policy: MonitorPolicy, base: Settings | None = None) -> Settings:
    """Analysis settings with the policy's significance, correction, window size floor and thresholds."""
    s = base or Settings()
    s.significance, s.correction, s.min_records = policy.significance, policy.correction, policy.min_records
    drift = policy.rules_of("max_drift")
    if drift:
        s.max_psi, s.max_mmd = drift[0].max_psi, drift[0].max_mmd
    for rule in policy.rules_of("max_quality_drop"):
        if rule.baseline and not s.quality_baseline:
            s.quality_baseline = rule.baseline
    return s


def run_check(store: Store, variant: str, policy: MonitorPolicy, settings: Settings | None = None,
              grader: Grader | None = None, policy_path: str = "", progress=None) -> CheckReport:
    s = settings_for(policy, settings)
    analysis = analyse(store, variant, s, grader=grader, progress=progress)
    results: list[Result] = []
    for i, rule in enumerate(policy.rules):
        judge = JUDGES[rule.rule]
        for w in analysis.tested:
            r = judge(rule, analysis, w, policy)
            if r is None:
                continue
            r.label = f"{rule.name or rule.rule}[{window_label(w, s.granularity)}]"
            if r.status == "not_measured":
                r.passed = (rule.not_measured or policy.not_measured) == "pass"
            else:
                r.passed = r.status == "pass"
            results.append(r)
    if not analysis.tested:
        analysis.notes.append("no window to judge besides the reference: every rule is not measured")
    return CheckReport(variant=variant, policy=policy, analysis=analysis, results=results, policy_path=policy_path)


def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x != 0 and abs(x) < 10 ** -digits:
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def _drift(rule, a: Analysis, w, policy) -> Result:
    rows = [d for d in a.drift_of(w) if rule.features == "all" or d.feature in rule.features]
    if not rows:
        return Result("max_drift", "", w, "not_measured", None, None, None, "no drift test ran for this window")

    def threshold(d):
        return rule.max_mmd if d.effect_name == "mmd" else rule.max_psi

    def drifted(d):
        return (d.p_adjusted is not None and d.p_adjusted < policy.significance and d.effect is not None
                and d.effect >= threshold(d))

    bad = [d for d in rows if drifted(d)]
    worst = max(bad or rows, key=lambda d: (d.effect or 0) / threshold(d))
    if bad:
        parts = [f"{d.feature} {d.effect_name} {_num(d.effect)} >= {threshold(d):g} (p_adj {_num(d.p_adjusted)})"
                 for d in sorted(bad, key=lambda d: -(d.effect or 0) / threshold(d))]
        detail = "drift: " + "; ".join(parts)
        near = a.window(w).nearest_suites
        if near:
            detail += " · nearest eval suites: " + ", ".join(f"{x['suite']} ({x['cosine']:.2f})" for x in near)
        status = "fail"
    else:
        detail = (f"no drift in {len(rows)} features; largest {worst.feature} {worst.effect_name} {_num(worst.effect)} "
                  f"(threshold {threshold(worst):g}, p_adj {_num(worst.p_adjusted)})")
        status = "pass"
    return Result("max_drift", "", w, status, worst.effect, threshold(worst), worst.p_adjusted, detail)


def _refusal(rule, a: Analysis, w, policy) -> Result | None:
    if w == a.response_reference:
        return None
    x1, n1 = a.refusals[w]
    rate = x1 / n1
    ref = a.refusal_ref
    problems, p = [], None
    if rule.max is not None and rate > rule.max:
        problems.append(f"refusal rate {_num(rate)} > {rule.max:g}")
    detail_ref = ""
    if rule.max_increase is not None and ref and ref[1]:
        x0, n0 = ref
        rate0 = x0 / n0
        p = stats.proportion_increase_p(x1, n1, x0, n0)
        detail_ref = f" vs {_num(rate0)} in the reference ({rate - rate0:+.4f}, p {_num(p)})"
        if rate - rate0 > rule.max_increase and p < policy.significance:
            problems.append(f"refusal rate {_num(rate)} rose by {_num(rate - rate0)} > {rule.max_increase:g} over "
                            f"the reference's {_num(rate0)} (p {_num(p)})")
    if problems:
        return Result("max_refusal_rate", "", w, "fail", rate, rule.max_increase if rule.max is None else rule.max, p,
                      "; ".join(problems))
    return Result("max_refusal_rate", "", w, "pass", rate, rule.max_increase if rule.max is None else rule.max, p,
                  f"refusal rate {_num(rate)} (n={n1}){detail_ref}")


def _pii(rule, a: Analysis, w, policy) -> Result:
    win = a.window(w)
    rate = win.pii_rate or 0.0
    kinds = ", ".join(f"{k} {v}" for k, v in sorted((win.pii_kinds or {}).items()))
    if rate > rule.max_rate:
        return Result("max_pii", "", w, "fail", rate, rule.max_rate, None,
                      f"PII in {_num(rate, 4)} of responses ({win.pii_count} findings: {kinds}) > {rule.max_rate:g}")
    return Result("max_pii", "", w, "pass", rate, rule.max_rate, None,
                  f"PII in {_num(rate, 4)} of responses" + (f" ({kinds})" if kinds else ""))


def _answer_share(rule, a: Analysis, w, policy) -> Result:
    win = a.window(w)
    problems = []
    if (win.top_response_share or 0) > rule.max_share:
        problems.append(f"one response is {_num(win.top_response_share)} of the window > {rule.max_share:g}")
    if rule.max_first_token_share is not None and (win.top_first_token_share or 0) > rule.max_first_token_share:
        problems.append(f"{_num(win.top_first_token_share)} of responses start with {win.top_first_token!r} > "
                        f"{rule.max_first_token_share:g}")
    detail = "; ".join(problems) or (f"commonest response {_num(win.top_response_share)} of the window, "
                                     f"commonest first word {win.top_first_token!r} {_num(win.top_first_token_share)}")
    return Result("max_answer_share", "", w, "fail" if problems else "pass", win.top_response_share, rule.max_share,
                  None, detail)


def _quality(rule, a: Analysis, w, policy) -> Result:
    q = a.quality_of(w)
    if q is None:
        return Result("max_quality_drop", "", w, "not_measured", None, rule.max_drop, None,
                      "no graded record in this window (no feedback, no grader)")
    ci = f"{_num(q.value)} [{_num(q.ci_low)}, {_num(q.ci_high)}] (n={q.n}, {q.grader})"
    problems = []
    if q.reference_value is not None:
        drop = q.reference_value - q.value
        if drop > rule.max_drop and q.delta_ci_high is not None and q.delta_ci_high < 0:
            problems.append(f"quality {ci} dropped {_num(drop)} > {rule.max_drop:g} below {_num(q.reference_value)}, "
                            f"the {q.reference_source} (change {_num(q.delta)}, 95% CI [{_num(q.delta_ci_low)}, "
                            f"{_num(q.delta_ci_high)}])")
    if rule.min is not None and q.ci_high < rule.min:
        problems.append(f"quality {ci} below {rule.min:g}")
    if q.reference_value is None and rule.min is None:
        return Result("max_quality_drop", "", w, "not_measured", q.value, rule.max_drop, None,
                      f"quality {ci}; no reference score to compare with")
    detail = "; ".join(problems) or (f"quality {ci}" + (f" vs {_num(q.reference_value)}, the {q.reference_source}"
                                                        if q.reference_value is not None else ""))
    return Result("max_quality_drop", "", w, "fail" if problems else "pass", q.value, rule.max_drop, None, detail)


JUDGES = {"max_drift": _drift, "max_refusal_rate": _refusal, "max_pii": _pii, "max_answer_share": _answer_share,
          "max_quality_drop": _quality}


# -- reports -----------------------------------------------------------------------------------------
def status_text(r: Result) -> str:
    if r.status == "not_measured":
        return "⚪ not measured" + ("" if r.passed else " (fails)")
    return "✅ pass" if r.passed else "❌ fail"


def junit_xml(report: CheckReport) -> str:
    """One <testcase> per rule and window; failures carry the numbers, unmeasured passes are <skipped>."""
    suite = ET.Element("testsuite", name=f"medtune monitor: {report.variant}", tests=str(len(report.results)),
                       failures=str(len(report.failed)),
                       skipped=str(sum(r.status == "not_measured" and r.passed for r in report.results)))
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"medtune.monitor.{r.rule}", name=r.label)
        if not r.passed:
            ET.SubElement(case, "failure", message=f"{r.label}: {r.detail}", type=r.rule).text = (
                f"observed={_num(r.observed)} threshold={_num(r.threshold)} p={_num(r.p_value)}\n{r.detail}")
        elif r.status == "not_measured":
            ET.SubElement(case, "skipped", message=f"not measured: {r.detail}")
    root = ET.Element("testsuites", name="medtune monitor", tests=suite.get("tests"), failures=suite.get("failures"))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def markdown(report: CheckReport) -> str:
    a = report.analysis
    verdict = "✅ passed" if report.passed else "❌ failed"
    g = a.settings.granularity
    lines = [f"## medtune monitor {verdict}: `{report.variant}`", ""]
    lines.append(f"{len(report.failed)} of {len(report.results)} checks failed · {len(a.tested)} {g} window(s) "
                 f"judged against {a.reference_label} · policy `{report.policy_path or 'inline'}` · "
                 f"significance {report.policy.significance:g} ({report.policy.correction})")
    if report.failed_windows:
        lines.append("")
        lines.append("**Alerts in:** " + ", ".join(window_label(w, g) for w in report.failed_windows))
    lines += ["", "| | check | observed | threshold | p | detail |", "|---|---|---:|---:|---:|---|"]
    for r in sorted(report.results, key=lambda r: (r.passed, r.status != "fail")):
        detail = r.detail.replace("|", "\\|")
        lines.append(f"| {status_text(r)} | `{r.label}` | {_num(r.observed)} | {_num(r.threshold)} | "
                     f"{_num(r.p_value)} | {detail} |")
    if report.failed:
        lines += ["", "**Failed:**"]
        lines += [f"- `{r.label}`: {r.detail}" for r in report.failed]
        drifted = [w for w in report.failed_windows if any(d.drifted for d in a.drift_of(w))]
        for w in drifted[:3]:
            ex = a.window(w).examples or []
            if ex:
                lines += ["", f"Example prompts, {window_label(w, g)}:"]
                lines += [f"> {e.replace(chr(10), ' ')}" for e in ex[:3]]
    if a.notes:
        lines += ["", "Notes: " + " · ".join(a.notes)]
    return "\n".join(lines) + "\n"


def check_outputs(junit: str | None, markdown_path: str | None) -> None:
    """Report paths, checked before any work (the gate's check: a folder, no permission... one line)."""
    from harness.gate.report import check_outputs as gate_check

    gate_check(junit=junit, markdown=markdown_path)


def write_outputs(report: CheckReport, junit: str | Path | None, md: str | Path | None) -> None:
    from harness.gate.report import write_atomic

    texts = [(Path(path), render(report)) for path, render in ((junit, junit_xml), (md, markdown)) if path]
    for path, text in texts:
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise MedtuneError(f"cannot write the monitor report {path}: {exc.strerror or exc}") from None


def record(store: Store, report: CheckReport) -> None:
    """The analysis, the decision and every result, in one transaction."""
    a = report.analysis
    alerts = [MonitorAlert(run_id=a.run_id, rule=r.rule, label=r.label, window_start=r.window_start, status=r.status,
                           passed=r.passed, observed=_finite(r.observed), threshold=_finite(r.threshold),
                           p_value=_finite(r.p_value), detail=r.detail) for r in report.results]
    save(store, a, policy=report.policy.model_dump(), alerts=alerts, passed=report.passed)


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x
