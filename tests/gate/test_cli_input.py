"""`medtune gate` command-line mistakes: report paths that cannot be written (checked before any work,
never a traceback, never half a report), the baseline given as the candidate, the help text."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import MedtuneError
from harness.gate import load_policy, run_gate, write_outputs
from harness.store import Store
from tests.dashboards import fixture_db
from tests.gate.test_gate import run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(fixture_db.build(tmp_path_factory.mktemp("gate-cli") / "gate.duckdb", audits=False))


@pytest.fixture
def policy(tmp_path) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text("rules:\n  - rule: min_score\n    suite: medmcqa\n    min: 0.1\n")
    return path


def gate(monkeypatch, store, policy, *extra, candidate="smollm2-dapt") -> int:
    return run_cli(monkeypatch, "--db", str(store.path), "--candidate", candidate, "--policy", str(policy), *extra)


def n_gate_runs(store) -> int:
    return int(store.query("SELECT count(*) AS n FROM gate_runs")["n"].iloc[0])


@pytest.mark.parametrize("flag, where, message", [
    ("--junit", lambda tmp: "/proc/nope/gate.xml", "--junit /proc/nope/gate.xml: cannot create files in /proc"),
    ("--markdown", lambda tmp: tmp / "a-file/gate.md", "a-file is a file, not a folder"),
    ("--junit", lambda tmp: tmp, "is a folder; give a file name, e.g."),
], ids=["unwritable-folder", "under-a-file", "a-folder"])
def test_unwritable_report_paths_exit_2_before_any_work(store, policy, tmp_path, monkeypatch, capsys, flag, where,
                                                        message):
    (tmp_path / "a-file").write_text("not a folder")
    before = n_gate_runs(store)
    # a candidate that does not exist: the path is checked first, so the error names the path
    code = gate(monkeypatch, store, policy, flag, str(where(tmp_path)), candidate="ghost")
    err = capsys.readouterr().err
    assert code == 2 and message in err and "ghost" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert n_gate_runs(store) == before


def test_new_report_folders_are_created(store, policy, tmp_path, monkeypatch):
    junit, md = tmp_path / "out/deep/gate.xml", tmp_path / "out/gate.md"
    assert gate(monkeypatch, store, policy, "--junit", str(junit), "--markdown", str(md), "--no-record") == 0
    assert "<testsuite" in junit.read_text() and "medtune gate" in md.read_text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deep", "gate.md"]  # no temp files left


def test_same_file_for_both_reports_exits_2(store, policy, tmp_path, monkeypatch, capsys):
    out = tmp_path / "gate.out"
    assert gate(monkeypatch, store, policy, "--junit", str(out), "--markdown", str(tmp_path / "." / "gate.out")) == 2
    assert "the same file as another report" in capsys.readouterr().err and not out.exists()


def test_a_failed_write_leaves_the_old_report_whole(store, policy, tmp_path, monkeypatch):
    report = run_gate(store, load_policy(policy), "smollm2-dapt")
    md = tmp_path / "gate.md"
    md.write_text("previous report\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("harness.gate.report.os.replace", broken_replace)
    with pytest.raises(MedtuneError, match="cannot write the gate report .*gate.md: No space left on device"):
        write_outputs(report, None, md)
    assert md.read_text() == "previous report\n"
    assert [p.name for p in tmp_path.iterdir() if p.name != "gate.yaml"] == ["gate.md"]  # the temp file is gone


def test_baseline_equal_to_candidate_exits_2(store, policy, monkeypatch, capsys):
    assert gate(monkeypatch, store, policy, "--baseline", "smollm2-dapt") == 2
    assert "the baseline is the candidate itself ('smollm2-dapt')" in capsys.readouterr().err


def test_policy_folder_exits_2(store, tmp_path, monkeypatch, capsys):
    assert gate(monkeypatch, store, tmp_path) == 2
    assert "is a folder, expected a policy file" in capsys.readouterr().err


def test_help_states_the_exit_codes():
    from typer.testing import CliRunner

    from harness.cli import app

    result = CliRunner().invoke(app, ["gate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit code 0: every rule passed; 1: a rule failed; 2: bad input" in text
