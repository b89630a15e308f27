"""``medtune audit ...``: a command group; each audit registers its subcommand from its own module."""

from __future__ import annotations

import importlib

import typer

AUDIT_MODULES = ["harness.cli.audit_leakage", "harness.cli.audit_robustness"]


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="Audits of a variant: leakage, robustness.", no_args_is_help=True)
    for name in AUDIT_MODULES:
        importlib.import_module(name).register(audit)
    app.add_typer(audit, name="audit")
