"""The Monitoring page: streamlit's AppTest on a DB with a checked week of traffic, and a real-browser
screenshot (headless chromium; skipped without it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboards import fixture_db
from tests.dashboards.browser import Browser, chromium, serve
from tests.monitor import dashboard_db

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return dashboard_db.build(tmp_path_factory.mktemp("mondash") / "results.duckdb")


def open_page(db: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("MEDTUNE_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/monitoring.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "success", "warning", "title", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_monitoring_page_shows_the_drifted_day(db, monkeypatch):
    at = open_page(db, monkeypatch)
    assert at.selectbox(key="variant").value == dashboard_db.VARIANT
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["day windows"] == "7" and metrics["records"] == "1,400"
    assert metrics["windows with drift"] == "1" and metrics["alerts"] == "1"
    body = texts(at)
    assert "1 of 30 checks failed, in 2026-12-05" in body and "reference: window 2026-12-01" in body
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    drift_chart = next(c for c in charts if any(t.get("name") == "threshold" for t in c["data"]))
    assert {a["text"] for a in drift_chart["layout"]["annotations"]} >= {"prompt_embedding", "prompt_chars"}
    drifted = [t for t in drift_chart["data"] if t.get("name") == "drifted"]
    assert sum(len(t["x"]) for t in drifted) == 2  # prompt_chars and prompt_embedding on 12-05
    assert at.selectbox(key="drifted_window").value == "2026-12-05 00:00"
    region = next(d.value for d in at.dataframe if list(d.value.columns) == ["prompt"])
    assert 1 <= len(region) <= 5 and "Example prompts from the drifted region" in texts(at)
    assert sum(any(w in p for w in ("baby", "child", "newborn", "infant", "toddler", "son", "daughter"))
               for p in region["prompt"]) >= len(region) - 1  # the paediatric questions
    records = next(d.value for d in at.dataframe if "response" in d.value.columns)
    assert len(records) == 10 and records["ts"].min().day == 5
    assert "smollm2-dapt-lora`: method **lora**, parent `smollm2-dapt`" in body
    assert any("suite" in d.value.columns and "medqa_usmle" in set(d.value["suite"]) for d in at.dataframe)
    links = [p.proto.page for p in at.get("page_link")]
    assert any("lineage" in p for p in links)
    # a profile-only analysis of another variant: no alerts, guidance to run a check
    at.selectbox(key="variant").set_value("smollm2-qlora").run()
    assert not at.exception
    assert "This analysis is a profile" in texts(at) and "No window drifted" in texts(at)


@pytest.mark.parametrize("state", ["empty", "core_only"])
def test_monitoring_page_guides_without_monitoring_data(state, tmp_path, monkeypatch):
    db = tmp_path / "x.duckdb"
    if state == "empty":
        fixture_db.Store(db).init()
    else:
        sql = (Path(APP).parents[1] / "harness/store/migrations/001_core.sql").read_text()
        with duckdb.connect(str(db)) as con:
            con.execute(sql)
    at = open_page(db, monkeypatch)
    assert "medtune monitor ingest" in at.info[0].value


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="chromium not installed (apt-get install chromium)")
def test_monitoring_page_screenshot_in_chromium(db, tmp_path):
    shot = Path(os.environ.get("MEDTUNE_ARTIFACTS", tmp_path)) / "dashboard-monitoring.png"
    with serve(db) as url, Browser() as browser:
        text = browser.open(f"{url}/monitoring", ["Drift per feature", "Drifted windows", "Lineage and eval runs"])
        browser.screenshot(shot)
    for expected in ("Monitoring", "Windows over time", "Drift per feature", "1 of 30 checks failed, in 2026-12-05",
                     "Nearest eval suites", "smollm2-dapt-lora"):
        assert expected in text, f"{expected!r} not rendered; page text:\n{text[:2000]}"
    assert "Traceback" not in text
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
