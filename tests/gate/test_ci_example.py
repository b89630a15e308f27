"""The example GitHub Actions workflow parses, gates with the example policy, and calls real commands."""

from __future__ import annotations

import re
from pathlib import Path

import typer
import yaml

from harness.cli import app

WORKFLOW = Path(__file__).resolve().parents[2] / ".ci/examples/github-actions.yml"


def _commands(group, prefix: str = "") -> set[str]:
    out = set()
    for name, cmd in group.commands.items():
        out.add(prefix + name)
        if getattr(cmd, "commands", None):  # a command group (typer bundles its own click)
            out |= _commands(cmd, prefix + name + " ")
    return out


def test_workflow_runs_known_commands_and_the_gate():
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    known = _commands(typer.main.get_command(app))
    called = re.findall(r"medtune ((?:audit )?[a-z]+)", scripts)
    assert {"tune", "eval", "forgetting", "audit leakage", "gate"} <= set(called)
    assert set(called) <= known, set(called) - known
    gate = next(s["run"] for s in steps if s.get("id") == "gate")
    assert "--policy .ci/examples/gate.yaml" in gate and "--junit" in gate and "--markdown" in gate
