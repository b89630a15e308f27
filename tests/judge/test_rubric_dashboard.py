"""The rubric dashboard page on a DB written by the mock flow (streamlit AppTest: no browser)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboards import data as rubric_data
from harness.evaluate import RunSettings, evaluate
from harness.judge import make_judge
from harness.judge.agreement import check_judge, read_labels
from harness.store import Store

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
SUITE = "rubric_clinical_sample"


def test_page_shows_tags_judge_agreement_and_conversations(tmp_path, monkeypatch):
    db = tmp_path / "d.duckdb"
    store = Store(db)
    for v in ("var-a", "var-b"):
        evaluate(v, [SUITE], RunSettings(backend="mock", limit=6, options={"chat_template": False}), store=store,
                 data_root=tmp_path, echo=lambda *a: None)
    check_judge(make_judge("mock"), read_labels("suites/rubric/clinical_sample_labels.jsonl"), store=store)
    df = rubric_data.rubric_scores(store)
    assert set(df["variant"]) == {"var-a", "var-b"} and "(overall)" in set(df["tag"])
    assert set(df["judge"]) == {"mock (rubric-judge-v1)"} and df["judge_macro_f1"].notna().all()
    convs = rubric_data.conversations(store, df["run_id"].iloc[0])
    assert len(convs) == 6 and {"criterion", "met", "reason"} <= set(convs["criteria"].iloc[0][0])

    monkeypatch.setenv("MEDTUNE_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/rubric.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.subheader] == ["Judge", "Scores per tag (95% bootstrap CI)", "Conversations"]
    crit = at.dataframe[-1].value
    assert set(crit["verdict"]) <= {"met", "not met", "judge_failed"} and "reason" in crit.columns
