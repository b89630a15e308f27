"""The gate end to end, as CI runs it: two tiny variants scored by `medtune eval`, then `medtune gate`.

    pytest tests/gate/test_e2e.py      # part of the default run (.ci/run); needs MEDTUNE_DATA
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.tiny_models import make_tiny_causal

MEDTUNE = [sys.executable, "-c", "from harness.cli import main; main()"]
SUITE = "mmlu_medical"


def medtune(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MEDTUNE, *args], capture_output=True, text=True, timeout=600)


def test_gate_end_to_end_on_tiny_variants(tmp_path, data_root):
    db = tmp_path / "e2e.duckdb"
    for name, seed in (("tiny-base", 0), ("tiny-cand", 1)):
        path = make_tiny_causal(tmp_path / name, seed=seed)
        run = medtune("eval", "--variant", str(path), "--name", name, "--suite", SUITE, "--limit", "10",
                      "--device", "cpu", "--db", str(db), "--data-root", str(data_root))
        assert run.returncode == 0, run.stderr

    def gate(rules: str, *extra: str) -> subprocess.CompletedProcess:
        policy = tmp_path / "gate.yaml"
        policy.write_text(f"significance: 0.05\nnot_measured: pass\nrules:\n{rules}")
        return medtune("gate", "--db", str(db), "--candidate", "tiny-cand", "--baseline", "tiny-base",
                       "--policy", str(policy), *extra)

    passing = gate(f"  - rule: min_score\n    family: medical_qa\n    min: 0.0\n"
                   f"  - rule: max_drop\n    suite: {SUITE}\n    max_drop: 1.0\n"
                   f"  - rule: max_forgetting_index\n    max: 0.05\n")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert f"max_drop[{SUITE}]" in passing.stdout and "McNemar" in passing.stdout and "PASS" in passing.stdout

    md = tmp_path / "gate.md"
    failing = gate(f"  - rule: min_score\n    suite: {SUITE}\n    min: 0.99\n", "--markdown", str(md),
                   "--junit", str(tmp_path / "gate.xml"))
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert f"`min_score[{SUITE}]`: acc" in md.read_text()

    bad = gate("  - rule: min_score\n    suite: no_such_suite\n    min: 0.1\n")
    assert bad.returncode == 2 and "unknown suite 'no_such_suite'" in bad.stderr
