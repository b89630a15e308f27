"""`medtune audit robustness` end to end on the tiny causal model, and its bad-input errors."""

from __future__ import annotations

import sys

import pytest

from typer.testing import CliRunner

from harness.cli import app, main
from harness.store import Store


def test_audit_tiny_model_writes_db_and_report(tiny_causal, data_root, db):
    out = CliRunner().invoke(app, ["audit", "robustness", "--variant", str(tiny_causal), "--suite", "medqa_usmle",
                                   "--limit", "3", "-p", "uppercase", "-p", "punctuation", "--device", "cpu",
                                   "--data-root", str(data_root), "--db", str(db)])
    assert out.exit_code == 0, out.output
    audits = Store(db).query("SELECT * FROM robustness_audits")
    perts = Store(db).query("SELECT * FROM robustness_perturbations ORDER BY perturbation")
    assert audits.n[0] == 3 and list(perts.perturbation) == ["Punctuation Removal", "Transform to uppercase"]
    assert audits.report_path[0].startswith(str(db.parent / "reports")) and audits.report_path[0].endswith(".html")
    assert "uppercase" in out.output and "audit id" in out.output


def test_unknown_perturbation_exits_2_and_writes_nothing(db, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["medtune", "audit", "robustness", "--variant", "smollm2-135m", "--suite",
                                      "medqa_usmle", "-p", "shouting", "--db", str(db)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2 and "choose from uppercase" in capsys.readouterr().err and not db.exists()


def test_perplexity_suite_is_refused_naming_supported_types(db, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["medtune", "audit", "robustness", "--variant", "smollm2-135m", "--suite",
                                      "wikitext2", "--db", str(db)])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "'perplexity'" in err and "multiple_choice, ner" in err and not db.exists()
