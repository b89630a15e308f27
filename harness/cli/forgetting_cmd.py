"""``medtune forgetting``: a variant's learn/forget pair against its parent and its base."""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.common import (BACKEND_OPT, DATA_OPT, DB_OPT, SUITES_DIR_OPT, console, parse_options, progress_bar,
                                relaunch_if_asked, use_suite_dirs)


def register(app: typer.Typer) -> None:
    app.command("forgetting")(forgetting_cmd)


def forgetting_cmd(
    variant: str = typer.Option(..., "--variant", "-v", help="A tuned variant registered in the DB"),
    suite: Optional[list[str]] = typer.Option(None, "--suite", "-s",
                                              help="Suites to compare (default: the general tasks, WikiText-2 and the medical QA suites)"),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="First N items of each suite"),
    suite_limit: Optional[list[str]] = typer.Option(None, "--suite-limit", help="Per-suite limit, e.g. wikitext2=8; repeatable"),
    no_run: bool = typer.Option(False, "--no-run", help="Use cached runs only; error if one is missing"),
    device: str = typer.Option("auto"),
    dtype: str = typer.Option("auto"),
    batch_size: str = typer.Option("auto", "--batch-size"),
    backend: Optional[str] = BACKEND_OPT,
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
    suites_dir: Optional[list[str]] = SUITES_DIR_OPT,
    processes: int = typer.Option(1, "--processes", help="Split the documents over N local processes (one per GPU; "
                                  "gloo on CPU); rank 0 writes the runs and the tables. Or run under torchrun / "
                                  "accelerate launch"),
):
    """Score the variant, its parent and its base on the same items (reusing cached runs), and report
    per-task deltas with paired CIs, the forgetting index and the domain gain. Stored in the DB."""
    from harness import distributed, settings
    from harness.forgetting.measure import measure
    from harness.forgetting.report import print_result
    from harness.errors import MedtuneError
    from harness.evaluate import check_settings
    from harness.models.registry import check_backend
    from harness.store import Store

    use_suite_dirs(suites_dir)
    limits = parse_options(suite_limit)
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise MedtuneError(f"--suite-limit {name}={value}: expected an integer >= 1")
        check_settings(limit=value)
    check_settings(limit=limit, batch_size=batch_size, device=device, dtype=dtype)
    check_backend(backend)
    store = Store(settings.db_path(db))
    store.check()
    relaunch_if_asked(processes)  # settings and DB are checked once, here, before any process starts
    main = distributed.is_main()
    with progress_bar() as bar:
        def progress(label, total):
            task = bar.add_task(label, total=total, rate="")
            return lambda n: bar.advance(task, n)

        result = measure(store, variant, settings.data_root(data_root), suites=suite or None,
                         limit=limit, suite_limits=limits, run_missing=not no_run, device=device, dtype=dtype,
                         batch_size=batch_size, progress=progress if main else None, backend=backend)
    if main:  # rank 0 prints the comparison
        print_result(result, console)
