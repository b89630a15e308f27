"""The gate's outputs: JUnit XML for CI, Markdown for a pull request, rows in the store."""

from __future__ import annotations

import math
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.errors import MedtuneError
from harness.gate.gate import GateReport
from harness.store import Store


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


def check_outputs(**paths: str | Path | None) -> dict[str, Path]:
    """Before the gate does any work: each report path (by flag, e.g. ``junit=...``) must be a file
    name whose folder exists or can be created, and where a file can be created. Nothing is created.
    Returns flag -> path for the paths given."""
    out: dict[str, Path] = {}
    for flag, value in paths.items():
        if not value:
            continue
        path, opt = Path(value), f"--{flag}"
        if path.is_dir():
            example = path / {"junit": "gate.xml", "markdown": "gate.md"}.get(flag, "gate.txt")
            raise MedtuneError(f"{opt} {path}: is a folder; give a file name, e.g. {example}")
        if path.resolve() in {p.resolve() for p in out.values()}:
            raise MedtuneError(f"{opt} {path}: the same file as another report; give each report its own file")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:  # the nearest folder that exists
            folder = folder.parent
        if not folder.is_dir():
            raise MedtuneError(f"{opt} {path}: {folder} is a file, not a folder")
        try:  # the one honest test of "can a file be created here" (permissions, read-only or special file systems)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".medtune-gate-", suffix=".probe")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise MedtuneError(f"{opt} {path}: cannot create files in {folder} ({exc.strerror or exc})") from None
        out[flag] = path
    return out


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, renamed over ``path``: a reader (or a crash) never
    sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_outputs(report: GateReport, junit: str | Path | None, md: str | Path | None) -> None:
    """Both reports are rendered first, then each written atomically; an OS error is one line."""
    texts = [(Path(path), render(report)) for path, render in ((junit, junit_xml), (md, markdown)) if path]
    for path, text in texts:
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise MedtuneError(f"cannot write the gate report {path}: {exc.strerror or exc}") from None


def record(store: Store, report: GateReport) -> None:
    """The decision and every result, in one transaction."""
    from harness.store import gate as db
    from harness.store.records import GateResult, GateRun
    from harness.store.runs import code_version

    db.record(store, GateRun(gate_id=report.gate_id, candidate=report.candidate, baseline=report.baseline,
                             policy=report.policy.model_dump(), passed=report.passed, n_failed=len(report.failed),
                             code_version=code_version()),
              [GateResult(gate_id=report.gate_id, rule=r.rule, suite=r.suite, status=r.status, passed=r.passed,
                          observed=r.observed, threshold=r.threshold, p_value=r.p_value, detail=r.detail)
               for r in report.results])
