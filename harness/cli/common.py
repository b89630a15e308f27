"""Options and helpers shared by the command modules."""

from __future__ import annotations

from typing import Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness.errors import MedtuneError

console = Console()
err_console = Console(stderr=True)

DB_OPT = typer.Option(None, "--db", help="Results DuckDB file [env MEDTUNE_DB; default ./medtune.duckdb]")
DATA_OPT = typer.Option(None, "--data-root", help="Folder of the datasets [env MEDTUNE_DATA]")


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as YAML scalars (true, 3, [a, b])."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MedtuneError(f"--option {pair!r}: expected key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def progress_bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err_console, transient=False)
