"""The ``medtune`` command. Each area registers its commands from its own module."""

from __future__ import annotations

import functools
import importlib
import sys
import warnings

import typer
import typer.main

try:  # typer >= 0.2x bundles its own click; the standalone click package is not what it raises
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer on the standalone click
    from click import exceptions as click_exc

from harness.errors import MedtuneError
from harness.settings import offline_defaults

INTERRUPTED = "interrupted: finished work is kept; run the same command again to resume"

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
    "harness.cli.monitor_cmd",
    "harness.cli.judge_cmd",
]


def _show_version(value: bool) -> None:
    if value:
        from harness.cli.version import version_text

        print(version_text())
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                       help="Print the version and the dependency lock it was installed from"),
          suites_dir: list[str] = typer.Option([], "--suites-dir", help="A folder of your suite files, for every "
                                               "command (env MEDTUNE_SUITES); repeatable"),
          lmeval_include: list[str] = typer.Option([], "--lmeval-include", help="A folder of lm-eval task files, for "
                                                   "--suite lmeval:TASK in every command; repeatable")):
    # options of `medtune` itself (the help text is the app's)
    if suites_dir or lmeval_include:
        from suites import add_lmeval_include, add_suite_dirs

        add_suite_dirs(suites_dir)
        add_lmeval_include(lmeval_include)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _error(message: str) -> None:
    from rich.console import Console
    from rich.text import Text

    # the message is the user's own text (paths, values): printed as is, never as rich markup or :emoji:
    Console(stderr=True).print(Text("error: ", style="bold red") + Text(message), highlight=False, soft_wrap=True)


def _usage_error(exc: Exception) -> None:
    """One line for a bad command line, plus a hint naming the command's --help."""
    if isinstance(exc, getattr(click_exc, "NoArgsIsHelpError", ())):  # `medtune` / `medtune audit` alone: the help
        exc.show()
        return
    _error(" ".join(exc.format_message().split()))
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        print(f"try '{ctx.command_path} --help'", file=sys.stderr)


def _prepared(callback):
    """``callback`` that first sets the library defaults (they import transformers: ~1 s that a usage error,
    --help or --version should not wait for)."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        offline_defaults()
        return callback(*args, **kwargs)

    return run


def _command():
    command = typer.main.get_command(app)
    stack = [command]
    while stack:
        cmd = stack.pop()
        if getattr(cmd, "commands", None):
            stack += cmd.commands.values()
        elif cmd.callback is not None:
            cmd.callback = _prepared(cmd.callback)
    return command


def main() -> None:
    """Entry point. Exit codes: 0 ok; 1 only what a command means by it (``gate``: a rule failed);
    2 a user error (bad command line, config, data: one line on stderr, never a traceback); 130 interrupted."""
    # deprecation notices that libraries raise at each other (peft -> transformers) are not the user's to act on
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    from harness import distributed

    distributed.bind_to_launcher()  # a child of --processes dies with its launcher
    try:
        # typer turns a KeyboardInterrupt inside a command into exit code 130 and returns it here
        code = _command().main(standalone_mode=False)
    except MedtuneError as exc:
        if not getattr(exc, "shared", False) or distributed.prints_errors():  # every rank raised it: one line
            _error(str(exc))
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except click_exc.ClickException as exc:
        # usage errors, and the few other command-line problems click knows (a file option it cannot open):
        # all 2, because 1 is a verdict (`medtune gate`: a rule failed)
        _usage_error(exc)
        sys.exit(2)
    if code == 130 and not distributed.child_of_processes():
        # a child of --processes stays quiet: its launcher says it once
        print(INTERRUPTED, file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
