"""Exit codes CI can trust, from the installed ``medtune`` console script: a usage error is one line and 2
(never a traceback, never 1, which `medtune gate` uses for "a rule failed"); Ctrl-C is 130 and says how to resume."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
import typer.main

from harness.cli import INTERRUPTED, app
from tests.harness.clihelp import run_cli

MEDTUNE = Path(sys.executable).parent / "medtune"


def _commands(cmd=None, path=()) -> list[tuple[tuple[str, ...], object]]:
    """Every command and group of the app, the app itself first (a new command is covered without editing here)."""
    cmd = cmd or typer.main.get_command(app)
    out = [(path, cmd)]
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        out += _commands(sub, (*path, name))
    return out


COMMANDS = _commands()
REQUIRED = [path for path, cmd in COMMANDS if any(p.required for p in cmd.params)]
# (argv, what the one line says): the examples that printed a traceback and exited 1 before
EXAMPLES = [
    (("gate",), "Missing option '--candidate'"),
    (("gate", "--candidate", "x"), "Missing option '--policy'"),
    (("results", "--bogus"), "No such option: --bogus"),
    (("eval", "-v", "smollm2-135m"), "Missing option '--suite'"),
    (("eval", "-v", "x", "-s", "y", "--limit", "many"), "Invalid value for '--limit'"),
    (("tune",), "Missing argument"),
    (("tune", "a.yaml", "extra"), "unexpected extra argument"),
    (("nosuchcommand",), "No such command"),
]


def _run(argv: tuple[str, ...]) -> subprocess.CompletedProcess:
    return subprocess.run([str(MEDTUNE), *argv], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def usage_runs() -> dict:
    """All the bad command lines, run at once on a few threads (each start-up of medtune takes about a second)."""
    assert MEDTUNE.is_file(), f"{MEDTUNE}: the medtune console script is not installed (pip install -e .)"
    argvs = [(*path, "--no-such-option") for path, _ in COMMANDS] + [(*path,) for path in REQUIRED]
    argvs = list(dict.fromkeys(argvs + [argv for argv, _ in EXAMPLES]))
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(argvs, pool.map(_run, argvs)))


def _assert_usage_error(proc: subprocess.CompletedProcess) -> list[str]:
    report = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 2, report
    assert "Traceback" not in proc.stdout + proc.stderr, report
    assert proc.stdout == "", report
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), report
    assert len(lines) == 1 or lines[1].startswith("try '"), report
    return lines


def test_every_command_covers_the_known_ones():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "eval", "gate", "tune", "results", "audit", "audit leakage", "audit robustness"} <= names


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p) or "medtune")
def test_unknown_option_is_one_line_and_exit_2(usage_runs, path):
    lines = _assert_usage_error(usage_runs[(*path, "--no-such-option")])
    assert "--no-such-option" in lines[0]
    assert lines[1] == f"try '{' '.join(('medtune', *path))} --help'"


@pytest.mark.parametrize("path", REQUIRED, ids=" ".join)
def test_missing_required_parameter_is_exit_2(usage_runs, path):
    assert "Missing" in _assert_usage_error(usage_runs[path])[0]


@pytest.mark.parametrize("argv,message", EXAMPLES, ids=[" ".join(a) for a, _ in EXAMPLES])
def test_usage_error_examples(usage_runs, argv, message):
    assert message in _assert_usage_error(usage_runs[argv])[0]


def test_sigint_during_a_command_is_130_with_the_resume_line(tmp_path):
    """Ctrl-C while `medtune tune` reads its recipe (a FIFO nobody writes to, so the command blocks there)."""
    recipe, db = tmp_path / "recipe.yaml", tmp_path / "results.duckdb"
    os.mkfifo(recipe)
    proc = subprocess.Popen([str(MEDTUNE), "tune", str(recipe), "--db", str(db)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None:  # opening the FIFO's write end succeeds once medtune has it open to read
            try:
                writer = os.open(recipe, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "medtune never opened the recipe"
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if writer is not None:
            os.close(writer)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1] == INTERRUPTED
    assert INTERRUPTED == "interrupted: finished work is kept; run the same command again to resume"
    assert not db.exists()


def _tiny_app(exc: BaseException) -> typer.Typer:
    tiny = typer.Typer()

    @tiny.command()
    def boom():
        raise exc

    @tiny.command()
    def other():
        pass

    return tiny


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), typer.Abort()], ids=["KeyboardInterrupt", "Abort"])
def test_interrupt_or_abort_inside_main_is_130(capsys, monkeypatch, exc):
    monkeypatch.setattr("harness.cli.app", _tiny_app(exc))
    code, out, err = run_cli(capsys, "boom")
    assert code == 130 and err.strip().splitlines() == [INTERRUPTED]


def test_gate_keeps_1_for_a_failed_rule(capsys, monkeypatch):
    """1 stays the command's own verdict (typer.Exit(1)), distinct from every usage error above."""
    monkeypatch.setattr("harness.cli.app", _tiny_app(typer.Exit(1)))
    assert run_cli(capsys, "boom")[0] == 1


def test_error_text_is_printed_verbatim_not_as_markup_or_emoji(capsys):
    """A user's value can hold rich markup ([b]) or emoji codes (:one:); the error line shows it as typed."""
    code, _, err = run_cli(capsys, "eval", "-v", "x", "-s", "medqa_usmle", "--device", "cuda:one:[b]x[/b]")
    assert code == 2 and "cuda:one:[b]x[/b]" in err
