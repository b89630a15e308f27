"""Options and helpers shared by the command modules."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True)

DB_OPT = typer.Option(None, "--db", help="Results DuckDB file [env MEDTUNE_DB; default ./medtune.duckdb]")
DATA_OPT = typer.Option(None, "--data-root", help="Folder of the datasets [env MEDTUNE_DATA]")
SUITES_DIR_OPT = typer.Option(None, "--suites-dir", help="A folder of your suite files (env MEDTUNE_SUITES); repeatable")
BACKEND_OPT = typer.Option(None, "--backend", help="Backend by name: hf-causal | hf-encoder | mock | one added with "
                           "register_backend (default: from the model kind)")


def parse_options(pairs: list[str] | None, flag: str = "--option") -> dict[str, Any]:
    """``key=value`` pairs given with ``flag``; values parsed as YAML scalars (true, 3, [a, b])."""
    from harness.config import parse_pairs

    return parse_pairs(pairs, flag)


def progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err_console, transient=False)


def check_processes(processes: int) -> None:
    """``--processes N``: 1, or at most one process a GPU (a CPU without CUDA); refused before any work."""
    from harness import distributed

    distributed.check_processes(processes)


def relaunch_if_asked(processes: int) -> None:
    """``--processes N`` (N > 1): start N local processes running this same command, then exit with their
    code. Callers check their input first, so a mistake is reported once, not by every process."""
    check_processes(processes)
    if processes > 1:
        from harness import distributed

        raise typer.Exit(distributed.relaunch(processes))


def use_suite_dirs(folders) -> None:
    """``--suites-dir`` of a command: the user's suite folders join the shipped suites."""
    if folders:
        from suites import add_suite_dirs

        add_suite_dirs(folders)
