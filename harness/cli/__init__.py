"""The ``medtune`` command. Each area registers its commands from its own module."""

from __future__ import annotations

import importlib
import sys
import warnings

import click
import typer

from harness.errors import MedtuneError
from harness.settings import offline_defaults

app = typer.Typer(help="medtune: tune, score and audit language models adapted to medicine.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Command modules, registered in this order (each defines ``register(app)``).
COMMAND_MODULES = [
    "harness.cli.eval_cmd",
    "harness.cli.tune_cmd",
    "harness.cli.forgetting_cmd",
    "harness.cli.audit_cmd",
    "harness.cli.gate_cmd",
    "harness.cli.dashboard_cmd",
    "harness.cli.demo_cmd",
]

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    offline_defaults()
    # deprecation notices that libraries raise at each other (peft -> transformers) are not the user's to act on
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    try:
        code = app(standalone_mode=False)
    except MedtuneError as exc:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
