"""``medtune audit robustness``: robustness profile of a variant on a suite (plus giskard's scan when installed)."""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.common import (BACKEND_OPT, DATA_OPT, DB_OPT, SUITES_DIR_OPT, console, parse_options, progress_bar,
                                relaunch_if_asked, use_suite_dirs)

HELP = (
    "Robustness of a variant on a suite under meaning-preserving text edits (offline).\n\n"
    "Multiple-choice suites: the question text is perturbed (options untouched). NER suites: only the "
    "non-entity words are perturbed, so the gold entities stay aligned word for word.\n\n"
    "Each perturbation (case, typos, punctuation, numbers to words, accents: the kinds giskard's text "
    "perturbation detector applies, deterministic per item and --seed) is compared paired with the same "
    "items clean: score change with 95% CI, McNemar p (QA), fraction of flipped predictions. Results go to "
    "the DB in one transaction.\n\n"
    "With giskard installed (pip install 'medtune\\[giskard]': giskard 2, Python 3.11, numpy<2), giskard's scan "
    "also runs (text perturbation; performance bias and over/under-confidence on 100+ items) and writes an HTML "
    "report beside the DB under reports/. Without it the audit is complete and records that the scan did not run."
)


def register(audit: typer.Typer) -> None:
    audit.command("robustness", help=HELP)(robustness_cmd)


def robustness_cmd(
    variant: str = typer.Option(..., "--variant", "-v", help="Variant name, built-in model, HF directory or adapter dir"),
    suite: str = typer.Option(..., "--suite", "-s", help="A multiple_choice or ner suite (see `medtune suites`)"),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Audit only the first N documents"),
    perturbation: Optional[list[str]] = typer.Option(
        None, "--perturbation", "-p",
        help="uppercase | lowercase | titlecase | typos | punctuation | numbers | accents; repeatable (default: all)"),
    threshold: float = typer.Option(0.05, help="Flag a perturbation when this fraction of predictions flips (giskard's rule)"),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Suite option key=value; repeatable"),
    seed: int = typer.Option(0, help="Seed for the typos and the bootstrap CIs"),
    giskard_scan: Optional[bool] = typer.Option(
        None, "--giskard-scan/--no-giskard-scan",
        help="Run giskard's scan and HTML report too (default: when giskard is installed, `medtune\\[giskard]`)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
    dtype: str = typer.Option("auto", help="auto | float32 | bfloat16 | float16"),
    batch_size: str = typer.Option("auto", "--batch-size", help="Integer, or auto"),
    backend: Optional[str] = BACKEND_OPT,
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
    processes: int = typer.Option(1, "--processes", help="Split the clean and perturbed documents over N local "
                                  "processes (one per GPU; gloo on CPU); rank 0 runs giskard's scan, writes and "
                                  "prints. Or run under torchrun / accelerate launch"),
    suites_dir: Optional[list[str]] = SUITES_DIR_OPT,
):
    from harness import distributed
    from harness.medtune.api import audit_robustness
    from harness.robustness._giskard import wanted

    use_suite_dirs(suites_dir)
    wanted(giskard_scan)  # --giskard-scan without giskard: one line, exit 2, before any process starts
    relaunch_if_asked(processes)
    bar = progress_bar()  # shown from the first scored item: bad input before that is a clean one-line error
    task = bar.add_task(f"{variant} · robustness {suite}", total=None, rate="")

    def shown():
        if not bar.live.is_started:
            bar.start()
        return bar

    try:
        audit = audit_robustness(variant, suite, limit=limit, perturbations=perturbation, threshold=threshold,
                                 options=parse_options(option), seed=seed, giskard_scan=giskard_scan,
                                 backend=backend, device=device, dtype=dtype, batch_size=batch_size, db=db,
                                 data_root=data_root, progress=lambda n: shown().advance(task, n),
                                 echo=lambda m: shown().update(task, rate=m))
    finally:
        bar.stop()
    if distributed.is_main():
        print_audit(audit)


def print_audit(audit) -> None:
    from rich.markup import escape

    from harness.terminal import print_table

    rows = []
    for p in audit.perturbations:
        if p.n == 0:
            rows.append((escape(p.perturbation), "0", "", "", "no item changed", "", "", ""))
            continue
        rows.append((escape(p.perturbation), str(p.n), f"{p.clean_value:.3f}", f"{p.perturbed_value:.3f}",
                     f"{p.delta:+.3f} [{p.ci_low:+.3f}, {p.ci_high:+.3f}]", f"{p.p_value:.3f}", f"{p.flip_rate:.1%}",
                     "[red]FLAGGED[/]" if p.flagged else "ok"))
    print_table(console, f"robustness · {escape(audit.variant)} on {escape(audit.suite)} · clean {audit.metric} "
                         f"{audit.clean_value:.3f} (n={audit.n}) · paired on the items each perturbation changes",
                ("perturbation", "n", "clean", "perturbed", "delta [95% CI]", "p", "flipped", "flag"), rows)
    if audit.giskard_issues is None:
        console.print(f"giskard scan {escape(audit.settings.get('giskard_scan', 'not run'))}", highlight=False)
    else:
        console.print(f"giskard detectors: {', '.join(audit.detectors)}"
                      + ("" if len(audit.detectors) > 1 else " (slice detectors need 100+ items)"))
        for issue in audit.giskard_issues:
            what = issue["transformation"] or issue["slice"] or ""
            console.print(f"  [{issue['level']}] {issue['group']}: {what} — {issue['deviation']}", highlight=False)
        if not audit.giskard_issues:
            console.print("  no giskard issues")
        console.print(f"report: {audit.report_path}", highlight=False)
    console.print(f"audit id: {audit.audit_id}   {audit.duration_s:.1f} s", highlight=False)
