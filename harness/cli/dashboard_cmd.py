"""``medtune dashboard``: the Streamlit app over the results DB (read-only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from harness.cli.common import DB_OPT, console
from harness.errors import MedtuneError


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_cmd)


def app_path() -> Path:
    import dashboards

    return Path(next(iter(dashboards.__path__))) / "app.py"  # __file__ is None in an old editable install


def streamlit_argv(db: Path, port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line: headless, no usage statistics, bound to ``address``."""
    return [sys.executable, "-m", "streamlit", "run", str(app_path()),
            "--server.headless=true", f"--server.port={port}", f"--server.address={address}",
            "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]


def dashboard_cmd(
    db: Optional[str] = DB_OPT,
    port: int = typer.Option(8501, "--port", help="Port to serve on"),
    address: str = typer.Option("127.0.0.1", "--address", help="Interface to bind (0.0.0.0 to share on a network)"),
):
    """Serve the dashboard: overview, learn vs forget, lineage, suite drill-down, leakage, robustness, history."""
    from harness import settings

    path = settings.db_path(db)
    if not path.exists():
        raise MedtuneError(f"no results database at {path}: run `medtune eval` first or pass --db")
    if not 0 < port < 65536:
        raise MedtuneError(f"--port {port}: expected 1-65535")
    from harness.store import Store

    Store(path).check()  # another tool's DuckDB file, or not a DuckDB file: refused here
    console.print(f"dashboard for [bold]{path}[/] at http://{address}:{port} (Ctrl+C to stop)")
    env = {**os.environ, "MEDTUNE_DB": str(path)}
    try:
        code = subprocess.call(streamlit_argv(path, port, address), env=env)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
