"""Policy files: shipped examples load; bad ones fail with file:line and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.gate import load_policy

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [REPO / "harness/gate/policies/default.yaml", REPO / "harness/gate/policies/ner.yaml",
           REPO / ".ci/examples/gate.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policies_load(path):
    policy = load_policy(path)
    assert policy.rules and 0 < policy.significance < 1


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("rules:\n  - rule: min_score\n    min: 0.3\n  - rule: max_dorp\n    max_drop: 0.1\n",
     "gate.yaml:4: rules[1].rule: unknown rule 'max_dorp'"),
    ("rules:\n  - rule: min_score\n    suite: medqa_usmle\n    minimum: 0.3\n",
     "gate.yaml:4: rules[0].minimum: Extra inputs are not permitted"),
    ("significance: 1.5\nrules:\n  - rule: min_score\n    min: 0.3\n", "gate.yaml:1: significance"),
    ("rules:\n  - rule: max_drop\n    suite: a\n    family: b\n", "give suite or family, not both"),
    ("rules: []\n", "rules"),
    ("rules:\n  - rule: min_score\n    min: [0.3\n", "invalid YAML"),
    ("- just a list\n", "must be a mapping"),
    ("rules:\n  - rule: max_contamination\n    max_ratio: 2\n", "rules[0].max_ratio"),
])
def test_bad_policies_name_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_policy(write(tmp_path, text))


def test_missing_policy_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "nope.yaml")
