"""``medtune monitor ...``: a deployed variant's traffic against what was measured before deployment.

    medtune monitor ingest FILE... --variant NAME     # JSONL / Parquet traffic logs into the DB
    medtune monitor profile --variant NAME            # profiles per window + drift, stored for the dashboard
    medtune monitor check --variant NAME --policy F   # the same, judged by a policy: exit 0 pass, 1 alert, 2 bad input
"""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.markup import escape

from harness.cli.common import DATA_OPT, DB_OPT, console, err_console, parse_options

HELP = ("Monitoring: ingest a deployed variant's traffic logs, profile them per time window, test drift against "
        "its eval suites or an earlier window, grade a sample by user feedback, and alert by policy.")

WINDOW_OPT = typer.Option("day", "--window", "-w", help="Window size: hour | day | week")
REFERENCE_OPT = typer.Option(None, "--reference", "-r", help="suites | window:TIME | file:PATH (default: the "
                             "variant's eval suites' prompts if stored runs have them, else the first window)")
EMBED_OPT = typer.Option("minilm", "--embed", help="Embeddings for the drift tests: minilm (the shipped "
                         "all-MiniLM-L6-v2, on a seeded sample) | hash (hashed bag of words, no model) | none")
EMBED_SAMPLE_OPT = typer.Option(256, "--embed-sample", help="Records embedded a window (seeded sample)")
TEST_SAMPLE_OPT = typer.Option(20_000, "--test-sample", help="Records a window for the numeric tests (seeded sample)")
QUALITY_SAMPLE_OPT = typer.Option(1000, "--quality-sample", help="Records with feedback graded a window (seeded)")
SUITE_OPT = typer.Option(None, "--suite", "-s", help="Also compare with this suite's questions (from the data "
                         "root): the reference for --reference suites and the nearest-suite ranking; repeatable")
LAST_OPT = typer.Option(None, "--last", help="Test only the last N windows (e.g. 1 from a daily cron)")
SINCE_OPT = typer.Option(None, "--since", help="Test only windows from this time on (ISO 8601)")
SEED_OPT = typer.Option(0, "--seed", help="Seed of every sample and of the permutation tests")
BASELINE_OPT = typer.Option(None, "--quality-baseline", help="SUITE[:METRIC]: the variant's stored pre-deployment "
                            "score the sampled quality is compared with (default: the reference window's)")
MAPPING_OPT = typer.Option(None, "--mapping", help="YAML file naming where each field is (timestamp, prompt, "
                           "response, feedback, model, id): a dotted path or a template")
FIELD_OPT = typer.Option(None, "--field", help="One field of the mapping, key=path (e.g. prompt=request.text); "
                         "repeatable")


def register(app: typer.Typer) -> None:
    monitor = typer.Typer(help=HELP, no_args_is_help=True)
    monitor.command("ingest")(ingest_cmd)
    monitor.command("profile")(profile_cmd)
    monitor.command("check")(check_cmd)
    app.add_typer(monitor, name="monitor")


def _mapping(mapping: Optional[str], field: Optional[list[str]]):
    from harness.monitor.mapping import load_mapping

    return load_mapping(mapping, parse_options(field, "--field"))


def ingest_cmd(
    files: list[str] = typer.Argument(..., help="Traffic logs: JSONL (optionally .gz/.zst) or Parquet"),
    variant: str = typer.Option(..., "--variant", "-v", help="The deployed variant this traffic was served by"),
    mapping: Optional[str] = MAPPING_OPT,
    field: Optional[list[str]] = FIELD_OPT,
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad lines and report them (default: a bad line "
                                  "refuses the files, exit 2, nothing loaded)"),
    batch: int = typer.Option(20_000, "--batch", help="Records held in memory at a time"),
    db: Optional[str] = DB_OPT,
):
    """Load traffic logs for VARIANT: streamed, idempotent (a file or record already stored adds nothing),
    one transaction per file; a bad line names file:line and the field and loads nothing (or --skip-bad)."""
    from harness import settings
    from harness.errors import DataError, MedtuneError
    from harness.monitor.ingest import ingest_files
    from harness.store import Store

    if batch < 1:
        raise MedtuneError("--batch must be at least 1")
    m = _mapping(mapping, field)
    store = Store(settings.db_path(db))
    start, seen, shown = time.perf_counter(), [0], [time.perf_counter()]

    def progress(n: int) -> None:  # a line every 10 s at most
        seen[0] += n
        now = time.perf_counter()
        if now - shown[0] >= 10:
            shown[0] = now
            err_console.print(f"[dim]  {seen[0]:,} records read ({seen[0] / (now - start):,.0f}/s)[/]",
                              highlight=False)

    try:
        results = ingest_files(store, files, variant, m, skip_bad=skip_bad, batch=batch, progress=progress)
    except DataError as exc:
        raise MedtuneError(f"{exc} (nothing loaded; --skip-bad skips bad lines)") from None
    seconds = time.perf_counter() - start
    for r in results:
        name = escape(str(r.path))
        if r.already:
            console.print(f"{name}: already ingested for {escape(variant)} (sha256 {r.sha256[:12]}): nothing added",
                          highlight=False)
            continue
        span = f", {r.ts_min:%Y-%m-%d %H:%M} .. {r.ts_max:%Y-%m-%d %H:%M} UTC" if r.ts_min else ""
        dup = f" ({r.n_duplicates:,} already stored)" if r.n_duplicates else ""
        console.print(f"{name}: [bold]{r.n_added:,}[/] records added{dup}{span}", highlight=False)
        if r.n_skipped:
            console.print(f"  [yellow]{r.n_skipped:,} bad line(s) skipped[/]:", highlight=False)
            for _, message in r.skipped[:10]:
                console.print(f"    {escape(message)}", highlight=False)
            if r.n_skipped > 10:
                console.print(f"    ... and {r.n_skipped - 10:,} more (the first {len(r.skipped)} are in "
                              "traffic_files.skipped)", highlight=False)
    total = sum(r.n_read for r in results)
    if total:
        console.print(f"[dim]{total:,} records read in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f}/s)[/]")


def _settings(window, reference, embed, embed_sample, test_sample, quality_sample, suite, last, since, seed,
              quality_baseline, data_root, mapping, field):
    from harness.monitor.analysis import Settings
    from harness.monitor.mapping import parse_timestamp

    since_ts = parse_timestamp(since, "--since", "--since", None) if since else None
    if last is not None and last < 1:
        from harness.errors import MedtuneError

        raise MedtuneError("--last must be at least 1")
    return Settings(granularity=window, reference=reference, embed=embed, embed_sample=embed_sample,
                    test_sample=test_sample, quality_sample=quality_sample, suites=list(suite or []), last=last,
                    since=since_ts, seed=seed, quality_baseline=quality_baseline, data_root=data_root,
                    mapping=_mapping(mapping, field) if (mapping or field) else None)


def _print_profile(a) -> None:
    """One line a window (plain lines, not a table: a narrow terminal or a CI log wraps them, never cuts them)."""
    from harness.monitor.analysis import window_label

    g = a.settings.granularity
    console.print(f"[bold]monitor[/] {escape(a.variant)} · {len(a.windows)} {g} window(s) · reference "
                  f"{escape(a.reference_label)}", highlight=False)
    tested = set(a.tested)
    for w in a.windows:
        q = a.quality_of(w.window_start)
        drifted = [d.feature for d in a.drift_of(w.window_start) if d.drifted]
        if drifted:
            state = "[bold red]drift: " + escape(", ".join(drifted)) + "[/]"
        elif w.window_start in tested:
            state = "[green]no drift[/]"
        else:
            state = "[dim]reference[/]" if w.window_start == a.response_reference or not a.tested or \
                a.reference.endswith(w.window_start.isoformat()) else "[dim]not tested[/]"
        quality = f" · quality {q.value:.3f} [{q.ci_low:.3f}, {q.ci_high:.3f}]" if q else ""
        console.print(f"  {window_label(w.window_start, g)} · {w.n:,} records · prompt {w.prompt_chars_mean:.0f} / "
                      f"response {w.response_chars_mean:.0f} chars · refusals {w.refusal_rate:.3f} · PII "
                      f"{w.pii_rate:.4f} · top answer {w.top_response_share:.3f}{quality} · {state}", highlight=False)
    for w in a.windows:
        if any(d.drifted for d in a.drift_of(w.window_start)) and w.nearest_suites:
            console.print(f"  nearest eval suites to {window_label(w.window_start, g)}: "
                          + ", ".join(f"{x['suite']} ({x['cosine']:.2f})" for x in w.nearest_suites), highlight=False)
    for note in a.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False)


def profile_cmd(
    variant: str = typer.Option(..., "--variant", "-v", help="The deployed variant"),
    window: str = WINDOW_OPT,
    reference: Optional[str] = REFERENCE_OPT,
    embed: str = EMBED_OPT,
    embed_sample: int = EMBED_SAMPLE_OPT,
    test_sample: int = TEST_SAMPLE_OPT,
    quality_sample: int = QUALITY_SAMPLE_OPT,
    suite: Optional[list[str]] = SUITE_OPT,
    last: Optional[int] = LAST_OPT,
    since: Optional[str] = SINCE_OPT,
    seed: int = SEED_OPT,
    quality_baseline: Optional[str] = BASELINE_OPT,
    significance: float = typer.Option(0.01, "--significance", help="Adjusted p-value threshold"),
    max_psi: float = typer.Option(0.2, "--max-psi", help="PSI that counts as drift (with significance)"),
    max_mmd: float = typer.Option(0.1, "--max-mmd", help="MMD that counts as drift (with significance)"),
    mapping: Optional[str] = MAPPING_OPT,
    field: Optional[list[str]] = FIELD_OPT,
    record: bool = typer.Option(True, "--record/--no-record", help="Store the profiles (the dashboard reads them)"),
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
):
    """Profile VARIANT's traffic per window and test each window for drift against the reference."""
    from harness import settings
    from harness.monitor.analysis import analyse, save
    from harness.store import Store

    s = _settings(window, reference, embed, embed_sample, test_sample, quality_sample, suite, last, since, seed,
                  quality_baseline, data_root, mapping, field)
    s.significance, s.max_psi, s.max_mmd = significance, max_psi, max_mmd
    store = Store(settings.db_path(db))
    a = analyse(store, variant, s, progress=lambda msg: err_console.print(f"[dim]{escape(msg)}…[/]"))
    if record:
        save(store, a)
    _print_profile(a)


def check_cmd(
    variant: str = typer.Option(..., "--variant", "-v", help="The deployed variant"),
    policy: str = typer.Option(..., "--policy", "-p", help="Monitoring policy YAML (see "
                               "harness/monitor/policies/default.yaml)"),
    junit: Optional[str] = typer.Option(None, "--junit", help="Write a JUnit XML report here"),
    md: Optional[str] = typer.Option(None, "--markdown", help="Write a Markdown summary here"),
    window: str = WINDOW_OPT,
    reference: Optional[str] = REFERENCE_OPT,
    embed: str = EMBED_OPT,
    embed_sample: int = EMBED_SAMPLE_OPT,
    test_sample: int = TEST_SAMPLE_OPT,
    quality_sample: int = QUALITY_SAMPLE_OPT,
    suite: Optional[list[str]] = SUITE_OPT,
    last: Optional[int] = LAST_OPT,
    since: Optional[str] = SINCE_OPT,
    seed: int = SEED_OPT,
    quality_baseline: Optional[str] = BASELINE_OPT,
    mapping: Optional[str] = MAPPING_OPT,
    field: Optional[list[str]] = FIELD_OPT,
    verbose: bool = typer.Option(False, "--verbose", help="Print every check, not only the failed ones"),
    record: bool = typer.Option(True, "--record/--no-record", help="Store the analysis and the alerts"),
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
):
    """Judge VARIANT's traffic windows by a policy: drift, refusal rate, PII, answer collapse, quality drop.

    Exit code 0: every rule passed; 1: an alert (a rule failed in some window); 2: bad input (policy file,
    variant, reference, report path), with a one-line error and nothing written.
    """
    from harness import settings
    from harness.monitor.analysis import window_label
    from harness.monitor.check import check_outputs, record as record_check, run_check, status_text, write_outputs
    from harness.monitor.policy import load_policy
    from harness.store import Store

    rules = load_policy(policy)
    check_outputs(junit, md)
    s = _settings(window, reference, embed, embed_sample, test_sample, quality_sample, suite, last, since, seed,
                  quality_baseline, data_root, mapping, field)
    store = Store(settings.db_path(db))
    report = run_check(store, variant, rules, s, policy_path=policy,
                       progress=lambda msg: err_console.print(f"[dim]{escape(msg)}…[/]"))
    write_outputs(report, junit, md)
    if record:
        record_check(store, report)
    a = report.analysis
    g = a.settings.granularity
    console.print(f"[bold]monitor check[/] {escape(variant)} · {len(a.tested)} {g} window(s) vs "
                  f"{escape(a.reference_label)} · policy {escape(policy)}", highlight=False)
    style = {"pass": "green", "fail": "bold red", "not_measured": "yellow"}
    for r in report.results:
        if verbose or not r.passed:
            console.print(f"  [{style[r.status]}]{status_text(r)}[/] {escape(r.label)}: {escape(r.detail)}",
                          highlight=False)
    for note in a.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False)
    if report.passed:
        console.print(f"[bold green]PASS[/] {len(report.results)} checks")
        return
    console.print(f"[bold red]ALERT[/] {len(report.failed)} of {len(report.results)} checks failed, in "
                  + escape(", ".join(window_label(w, g) for w in report.failed_windows)), highlight=False)
    raise typer.Exit(1)
