"""The gate's outputs: JUnit XML for CI, Markdown for a pull request, rows in the store."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.gate.gate import GateReport
from harness.store import Store
from harness.store.db import to_json

def status_text(r) -> str:
    if r.status == "not_measured":
        return "⚪ not measured" + ("" if r.passed else " (fails)")
    return "✅ pass" if r.passed else "❌ fail"


def _num(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.3f}"


def junit_xml(report: GateReport) -> str:
    """One <testcase> per rule and suite; failures carry the numbers, unmeasured passes are <skipped>."""
    suite = ET.Element("testsuite", name=f"medtune gate: {report.candidate}", tests=str(len(report.results)),
                       failures=str(len(report.failed)),
                       skipped=str(sum(r.status == "not_measured" and r.passed for r in report.results)))
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"medtune.gate.{r.rule}", name=r.label)
        if not r.passed:
            kind = "not_measured" if r.status == "not_measured" else r.rule
            ET.SubElement(case, "failure", message=f"{r.label}: {r.detail}", type=kind).text = (
                f"observed={_num(r.observed)} threshold={_num(r.threshold)} p={_num(r.p_value)}\n{r.detail}")
        elif r.status == "not_measured":
            ET.SubElement(case, "skipped", message=f"not measured: {r.detail}")
    root = ET.Element("testsuites", name="medtune gate", tests=suite.get("tests"), failures=suite.get("failures"))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def markdown(report: GateReport) -> str:
    """A summary to paste into a pull request: verdict, the failed rules first, with their numbers."""
    verdict = "✅ passed" if report.passed else "❌ failed"
    against = f" vs baseline `{report.baseline}`" if report.baseline else ""
    lines = [f"## medtune gate {verdict}: `{report.candidate}`{against}", ""]
    n_nm = sum(r.status == "not_measured" for r in report.results)
    lines.append(f"{len(report.failed)} of {len(report.results)} checks failed"
                 + (f", {n_nm} not measured" if n_nm else "")
                 + f" · policy `{report.policy_path or 'inline'}` · significance {report.policy.significance:g}"
                 + f" · not measured counts as **{report.policy.not_measured}**")
    lines += ["", "| | check | observed | threshold | p | detail |", "|---|---|---:|---:|---:|---|"]
    for r in sorted(report.results, key=lambda r: (r.passed, r.status != "fail")):
        detail = r.detail.replace("|", "\\|")
        lines.append(f"| {status_text(r)} | `{r.label}` | {_num(r.observed)} | {_num(r.threshold)} | {_num(r.p_value)} "
                     f"| {detail} |")
    if report.failed:
        lines += ["", "**Failed:**"]
        lines += [f"- `{r.label}`: {r.detail}" for r in report.failed]
    return "\n".join(lines) + "\n"


def write_outputs(report: GateReport, junit: str | Path | None, md: str | Path | None) -> None:
    for path, text in ((junit, junit_xml), (md, markdown)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text(report), encoding="utf-8")


def record(store: Store, report: GateReport) -> None:
    """The decision and every result, in one transaction."""
    from harness.store.runs import code_version

    with store.connect(write=True) as con:
        con.execute("INSERT INTO gate_runs (gate_id, candidate, baseline, policy, passed, n_failed, code_version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [report.gate_id, report.candidate, report.baseline, to_json(report.policy.model_dump()),
                     report.passed, len(report.failed), code_version()])
        con.executemany("INSERT INTO gate_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[report.gate_id, r.rule, r.suite, r.status, r.passed, r.observed, r.threshold, r.p_value,
                          r.detail] for r in report.results])
