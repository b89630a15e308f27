"""The dashboard flags a model that only learned a prior (issue #24): the overview warns, the suite page
shows each variant's answers against the majority baseline and a reliability diagram. No model is loaded."""

from __future__ import annotations

import json

from tests.dashboards.test_pages import open_page, texts
from tests.harness import prior_db


def test_a_siqa_style_collapse_is_flagged_with_a_reliability_diagram(tmp_path, monkeypatch):
    store = prior_db.build(tmp_path / "prior.duckdb")
    at = open_page(store.path, "overview", monkeypatch)
    warnings = [w.value for w in at.warning]
    assert any("**collapsed** on **siqa** answers 'A' on 100% of items (gold: 42%)" in w for w in warnings)
    assert not any("reader" in w for w in warnings)

    at.switch_page("pages/suite.py").run()
    assert not at.exception
    at.selectbox(key="suite").set_value("siqa").run()
    answers = at.dataframe[0].value.set_index("variant")
    assert answers.loc["collapsed", "chosen on"] == 1.0 and answers.loc["collapsed", "beats it"] == "no"
    assert answers.loc["collapsed", "majority baseline"] == 0.42 and answers.loc["reader", "beats it"] == "yes"
    assert "beats the majority baseline: no (p=1" in " ".join(w.value for w in at.warning)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t["name"] for t in chart["data"]]
    assert names[0] == "calibrated" and "collapsed (ECE 0.560)" in names and "reader (ECE 0.000)" in names
    assert "10 equal-width bins" in texts(at)
