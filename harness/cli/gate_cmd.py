"""``medtune gate``: pass/fail a candidate variant against a policy (exit 0 pass, 1 fail, 2 bad input)."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from harness.cli.common import DB_OPT, SUITES_DIR_OPT, console, use_suite_dirs


def register(app: typer.Typer) -> None:
    app.command("gate")(gate_cmd)


STYLE = {"pass": "green", "fail": "bold red", "not_measured": "yellow"}


def gate_cmd(
    candidate: str = typer.Option(..., "--candidate", "-c", help="Variant to judge"),
    baseline: Optional[str] = typer.Option(None, "--baseline", "-b", help="Variant to compare against (max_drop)"),
    policy: str = typer.Option(..., "--policy", "-p", help="Gate policy YAML (see harness/gate/policies/default.yaml)"),
    junit: Optional[str] = typer.Option(None, "--junit", help="Write a JUnit XML report here"),
    md: Optional[str] = typer.Option(None, "--markdown", help="Write a Markdown summary (for a pull request) here"),
    record: bool = typer.Option(True, "--record/--no-record", help="Store the decision in the DB (gate_runs)"),
    db: Optional[str] = DB_OPT,
    suites_dir: Optional[list[str]] = SUITES_DIR_OPT,
):
    """Judge CANDIDATE against a policy: minimum scores, paired-test drops vs BASELINE, forgetting, leakage.

    Exit code 0: every rule passed; 1: a rule failed; 2: bad input (policy file, variant, suite or metric
    name, report path), with a one-line error and nothing written.
    """
    from harness import settings
    from harness.gate import load_policy, record as record_gate, run_gate, write_outputs
    from harness.gate.report import check_outputs, status_text
    from harness.store import Store

    use_suite_dirs(suites_dir)
    rules = load_policy(policy)
    check_outputs(junit=junit, markdown=md)  # before any work: a bad --junit path must not cost a whole gate run
    store = Store(settings.db_path(db))
    report = run_gate(store, rules, candidate, baseline, policy_path=policy)
    write_outputs(report, junit, md)
    if record:
        record_gate(store, report)

    console.print(f"[bold]gate[/] {candidate}" + (f" vs {baseline}" if baseline else "") + f" · policy {escape(policy)}", highlight=False)
    for r in report.results:
        console.print(f"  [{STYLE[r.status]}]{status_text(r)}[/] {escape(r.label)}: {escape(r.detail)}", highlight=False)
    if report.passed:
        console.print(f"[bold green]PASS[/] {len(report.results)} checks")
        return
    console.print(f"[bold red]FAIL[/] {len(report.failed)} of {len(report.results)} checks: "
                  + escape(", ".join(r.label for r in report.failed)), highlight=False)
    raise typer.Exit(1)

