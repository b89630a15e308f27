"""The dashboard's Robustness page on an audit that ran without giskard's scan (no issues, no report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboards import fixture_db
from tests.dashboards.test_pages import open_page, texts


@pytest.fixture(scope="module")
def full_db(tmp_path_factory) -> Path:
    return fixture_db.build(tmp_path_factory.mktemp("dash") / "full.duckdb")


def test_audit_without_giskard_scan_reads_as_such(full_db, monkeypatch):
    at = open_page(full_db, "robustness", monkeypatch)
    [label] = [o for o in at.selectbox(key="audit").options if o.endswith("rob0")]
    at.selectbox(key="audit").set_value(label).run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe[0].value["perturbation"]) == ["Add typos", "Transform to lowercase"]
    assert [m.value for m in at.metric][1:] == ["40", "not run"]  # items, giskard issues
    body = texts(at)
    assert "giskard's scan did not run for this audit" in body and "pip install 'medtune[giskard]'" in body
    assert "giskard report" not in body and not at.get("download_button") and len(at.dataframe) == 1
