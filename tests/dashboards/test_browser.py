"""The overview in a real browser: Debian's headless chromium against a running `medtune dashboard`.

Opt out with ``-m 'not browser'``; skips when chromium is not installed (apt-get install chromium).
The screenshot is kept under $MEDTUNE_ARTIFACTS (CI uploads it) or the test's tmp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dashboards import fixture_db
from tests.dashboards.browser import Browser, chromium, serve

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium() is None, reason="chromium not installed (apt-get install chromium)")]


def test_overview_renders_in_chromium(tmp_path):
    db = fixture_db.build(tmp_path / "browser.duckdb")
    shot = Path(os.environ.get("MEDTUNE_ARTIFACTS", tmp_path)) / "dashboard-overview.png"
    with serve(db) as url, Browser() as browser:
        text = browser.open(url, ["Scores with 95% CIs", "smollm2-dapt-lora"])
        browser.screenshot(shot)
    for expected in ("Overview", "acc by variant and suite", "Scores with 95% CIs", "medqa_usmle",
                     "smollm2-dapt-lora", "Learn vs forget", str(db)):
        assert expected in text, f"{expected!r} not rendered; page text:\n{text[:2000]}"
    assert "Traceback" not in text and "Error" not in text
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
