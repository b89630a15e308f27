"""``medtune audit leakage --variant V``: did V train on the test items, and what did it memorise?"""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.common import (BACKEND_OPT, DATA_OPT, DB_OPT, SUITES_DIR_OPT, console, progress_bar, relaunch_if_asked,
                                use_suite_dirs)


def register(audit: typer.Typer) -> None:
    audit.command("leakage")(leakage_cmd)


def leakage_cmd(
    variant: str = typer.Option(..., "--variant", "-v", help="Variant registered in the results DB"),
    n: int = typer.Option(13, "--n", min=1, help="n-gram length for overlap (GPT-3 / lm-eval: 13)"),
    threshold: float = typer.Option(0.5, "--threshold", min=0.0, max=1.0, help="MinHash Jaccard of a near-duplicate"),
    min_overlap: float = typer.Option(0.0, "--min-overlap", min=0.0, max=1.0,
                                      help="n-gram share above which an item is contaminated (0: any n-gram)"),
    suite: Optional[list[str]] = typer.Option(None, "--suite", "-s", help="Only these suites (default: all)"),
    corpus: Optional[list[str]] = typer.Option(
        None, "--corpus", help="Also check this training text: a file, folder or glob of .txt (a document a line), "
        ".jsonl or .parquet, plain, .gz or .zst; streamed (repeatable)"),
    text_field: str = typer.Option("text", "--text-field", help="The text field of --corpus JSON Lines / Parquet"),
    engine: str = typer.Option("local", "--engine", help="local | dask: scan --corpus files as tasks on a dask cluster"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask scheduler address (tcp://host:8786); "
                                            "default: a local cluster"),
    workers: int = typer.Option(2, "--workers", min=1, help="Scanners of the training text (local engine: "
                                "threads, at most one a CPU; dask: workers of the local cluster)"),
    splits: bool = typer.Option(True, "--splits/--no-splits", help="Overlap between each suite's own splits"),
    model: bool = typer.Option(True, "--model/--no-model", help="Membership inference and canaries (loads the variant)"),
    mia_limit: int = typer.Option(200, "--mia-limit", min=2, help="Member and non-member texts scored, each"),
    k: float = typer.Option(0.2, "--k", min=0.01, max=1.0, help="Min-K%: fraction of lowest-scoring tokens"),
    max_tokens: int = typer.Option(128, "--max-tokens", min=8, help="Tokens per text for membership inference"),
    candidates: int = typer.Option(200, "--candidates", min=2, help="Secrets ranked per canary (|R|)"),
    members: Optional[str] = typer.Option(None, "--members", help="Texts the variant trained on (file)"),
    nonmembers: Optional[str] = typer.Option(None, "--nonmembers", help="Held-out texts of the same source (file)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
    backend: Optional[str] = BACKEND_OPT,
    seed: int = typer.Option(0, help="Seed for sampling texts, candidates and bootstrap CIs"),
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
    suites_dir: Optional[list[str]] = SUITES_DIR_OPT,
    processes: int = typer.Option(1, "--processes", help="Split the membership texts and canaries over N local "
                                  "processes (one per GPU; gloo on CPU); rank 0 scans, writes and prints. Or run "
                                  "under torchrun / accelerate launch"),
):
    """Contamination of every suite by the variant's training data (and its ancestors'), split overlap,
    membership inference (Min-K%, Min-K%++) and canary exposure; stored in the results DB."""
    from harness import distributed, settings as hs
    from harness.leakage.audit import Settings, run_audit
    from harness.leakage.report import render, write
    from harness.models.hf_load import check_device
    from harness.models.registry import check_backend
    from harness.store import Store

    use_suite_dirs(suites_dir)
    check_device(device)
    check_backend(backend)
    store = Store(hs.db_path(db))
    store.check()
    relaunch_if_asked(processes)  # settings and DB are checked once, here, before any process starts
    main = distributed.is_main()
    opts = Settings(n=n, threshold=threshold, min_overlap=min_overlap, suites=suite or None, corpus=list(corpus or []),
                    splits=splits, model=model, mia_limit=mia_limit, k=k, max_tokens=max_tokens, candidates=candidates,
                    members=members, nonmembers=nonmembers, device=device, backend=backend, seed=seed, text_field=text_field,
                    engine=engine, scheduler=scheduler, workers=workers)
    with progress_bar() as bar:
        def task(label, total):
            for t in bar.tasks:  # a new stage starts: the earlier ones are done (an open-ended bar stops its clock)
                if not t.finished:
                    bar.update(t.id, total=t.completed)
            tid = bar.add_task(label, total=total, rate="")

            def advance(count):
                bar.advance(tid, count)
            return advance

        audit = run_audit(store, variant, hs.data_root(data_root), opts, task=task)
    distributed.on_main(lambda: write(store, audit))  # rank 0 alone writes (every rank holds the same audit)
    if main:
        render(console, audit)
