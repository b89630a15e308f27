"""`medtune dashboard`: the streamlit command line it runs, and its input errors."""

from __future__ import annotations

import sys

import pytest

from harness.cli import dashboard_cmd


def test_streamlit_command_is_headless_local_and_without_usage_stats(tmp_path):
    argv = dashboard_cmd.streamlit_argv(tmp_path / "r.duckdb", 8600, "127.0.0.1")
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("dashboards/app.py")
    assert {"--server.headless=true", "--browser.gatherUsageStats=false", "--server.port=8600",
            "--server.address=127.0.0.1"} <= set(argv)


def test_dashboard_passes_the_db_to_streamlit(tmp_path, monkeypatch):
    db = tmp_path / "r.duckdb"
    db.touch()
    seen = {}

    def fake_call(argv, env):
        seen.update(argv=argv, db=env["MEDTUNE_DB"])
        return 0

    monkeypatch.setattr(dashboard_cmd.subprocess, "call", fake_call)
    assert run(monkeypatch, "--db", str(db), "--port", "8611") == 0
    assert seen["db"] == str(db) and "--server.port=8611" in seen["argv"]


def run(monkeypatch, *args) -> int:
    from harness.cli import main

    monkeypatch.setattr(sys, "argv", ["medtune", "dashboard", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code


def test_missing_db_is_an_input_error(tmp_path, monkeypatch, capsys):
    assert run(monkeypatch, "--db", str(tmp_path / "none.duckdb")) == 2
    assert "no results database" in capsys.readouterr().err
