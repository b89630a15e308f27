"""The example GitHub Actions workflow installs like the project's CI, and every `run:` step is a real command.

Each ``medtune ...`` invocation in the workflow is parsed by the CLI itself (click's parser: the command
exists, every option exists, required options are given), with the workflow's variables filled in.
Every script it names exists in the repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer
import yaml

from harness.cli import app

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".ci/examples/github-actions.yml"


def _steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]["steps"]


def _shell_lines(script: str) -> list[str]:
    """The script's logical lines (backslash continuations joined), comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def _medtune_calls(script: str, env: dict | None = None) -> list[list[str]]:
    """argv (after ``medtune``) of every medtune call; $VARS take the workflow's env values, else a placeholder."""
    env = env or {}

    def value(word: str) -> str:
        name = word[1:].strip("{}")
        return str(env.get(name, "X")) if word.startswith("$") else word

    calls = []
    for line in _shell_lines(script):
        lexer = shlex.shlex(re.sub(r"\$\{\{[^}]*\}\}", "X", line), posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        command: list[str] = []
        for word in [*lexer, ";"]:
            if word in (";", "&&", "||", "|", "do", "then", "&"):
                if command and command[0] in ("medtune", ".venv/bin/medtune"):
                    calls.append([value(w) for w in command[1:]])
                command = []
            else:
                command.append(word)
    return calls


def _usage_error(exc: Exception) -> str | None:
    """The message of a click usage error (typer bundles its own click, so match by shape, not class)."""
    return exc.format_message() if getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message") else None


def _parse(cmd, path: str, argv: list[str]) -> str | None:
    """None if click's own parser accepts argv (unknown/missing options and bad values raise), else the error."""
    try:
        cmd.make_context(path, list(argv), resilient_parsing=False)
    except Exception as exc:  # noqa: BLE001 - click's Exit (exit_code 0) means --help/--version: fine
        if getattr(exc, "exit_code", 0) == 0:
            return None
        message = _usage_error(exc)
        if message is None:
            raise
        return message
    return None


def _resolve(group, argv: list[str]):
    cmd, path = group, "medtune"
    while getattr(cmd, "commands", None):
        assert argv, f"`{path}` needs a subcommand"
        sub = cmd.commands.get(argv[0])
        assert sub is not None, f"`{path} {argv[0]}` is not a medtune command"
        cmd, path, argv = sub, f"{path} {argv[0]}", argv[1:]
    return cmd, argv, path


def test_workflow_installs_with_the_projects_setup_and_gets_data():
    scripts = "\n".join(s.get("run", "") for s in _steps())
    assert "bash .ci/setup" in scripts, "the example must install exactly as the project's CI does"
    assert "pip install" not in scripts, "installing outside the lock drifts from what the tests passed with"
    assert "MEDTUNE_DATA" in yaml.safe_load(WORKFLOW.read_text())["env"]
    assert any("data" in (s.get("with") or {}).get("path", "") for s in _steps()), "a data step (cache) is missing"


def test_every_script_the_workflow_names_exists():
    for step in _steps():
        for line in _shell_lines(step.get("run", "")):
            for path in re.findall(r"(?:bash |^)(\.ci/[\w./-]+)", line):
                assert (REPO / path).is_file(), f"step {step.get('name')!r} runs {path}, which does not exist"


def test_every_medtune_call_parses_with_the_real_cli():
    group = typer.main.get_command(app)
    env = yaml.safe_load(WORKFLOW.read_text())["env"]
    calls = [c for s in _steps() for c in _medtune_calls(s.get("run", ""), env)]
    called = set()
    for argv in calls:
        cmd, rest, path = _resolve(group, argv)
        called.add(path.removeprefix("medtune "))
        error = _parse(cmd, path, rest)
        assert error is None, f"`{path} {' '.join(rest)}`: {error}"
    assert {"tune", "eval", "forgetting", "audit leakage", "gate", "suites"} <= called, called


def test_the_gate_step_uses_the_example_policy_and_writes_reports():
    gate = next(s["run"] for s in _steps() if s.get("id") == "gate")
    assert "--policy .ci/examples/gate.yaml" in gate and "--junit" in gate and "--markdown" in gate
    from harness.gate.policy import load_policy

    load_policy(REPO / ".ci/examples/gate.yaml")


def test_a_wrong_option_in_a_workflow_line_would_be_caught():
    """The check above can fail: an option the CLI does not have is reported."""
    group = typer.main.get_command(app)
    cmd, rest, path = _resolve(group, _medtune_calls("medtune eval --variant v --suite s --no-such-flag")[0])
    assert "no-such-flag" in (_parse(cmd, path, rest) or "")
    cmd, rest, path = _resolve(group, _medtune_calls("medtune gate --baseline b")[0])
    assert "candidate" in (_parse(cmd, path, rest) or "")
