"""`medtune audit robustness` end to end on the tiny causal model, and its bad-input errors."""

from __future__ import annotations

import json
import sys

import pytest

from typer.testing import CliRunner

from harness.cli import app, main
from harness.store import Store


def audit(tiny_causal, data_root, db, *extra: str):
    return CliRunner().invoke(app, ["audit", "robustness", "--variant", str(tiny_causal), "--suite", "medqa_usmle",
                                    "--limit", "3", "-p", "uppercase", "-p", "punctuation", "--device", "cpu",
                                    "--data-root", str(data_root), "--db", str(db), *extra])


def test_audit_tiny_model_without_giskard_writes_db(tiny_causal, data_root, db, monkeypatch):
    monkeypatch.setitem(sys.modules, "giskard", None)  # as without the giskard extra
    out = audit(tiny_causal, data_root, db)
    assert out.exit_code == 0, out.output
    audits = Store(db).query("SELECT * FROM robustness_audits")
    perts = Store(db).query("SELECT * FROM robustness_perturbations ORDER BY perturbation")
    assert audits.n[0] == 3 and list(perts.perturbation) == ["Punctuation Removal", "Transform to uppercase"]
    assert perts.n.min() == 3  # both perturbations change every question
    assert audits.giskard_issues.isna()[0] and audits.n_issues.isna()[0] and audits.report_path.isna()[0]
    assert json.loads(audits.settings[0])["giskard_scan"].startswith("not run: giskard is not installed")
    assert "uppercase" in out.output and "audit id" in out.output and "giskard scan not run" in out.output
    assert not (db.parent / "reports").exists()


def test_audit_tiny_model_with_giskard_writes_db_and_report(tiny_causal, data_root, db):
    pytest.importorskip("giskard")
    out = audit(tiny_causal, data_root, db)
    assert out.exit_code == 0, out.output
    audits = Store(db).query("SELECT * FROM robustness_audits")
    assert audits.n[0] == 3 and audits.n_issues[0] >= 0
    assert audits.report_path[0].startswith(str(db.parent / "reports")) and audits.report_path[0].endswith(".html")
    assert "giskard detectors: text_perturbation" in out.output and "audit id" in out.output


def test_giskard_scan_without_giskard_exits_2_in_one_line(db, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "giskard", None)
    monkeypatch.setattr(sys, "argv", ["medtune", "audit", "robustness", "--variant", "smollm2-135m", "--suite",
                                      "medqa_usmle", "--giskard-scan", "--db", str(db)])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and not db.exists()
    assert "--giskard-scan: giskard is not installed" in err and "pip install 'medtune[giskard]'" in err
    assert "Python 3.11 and numpy<2" in err


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
