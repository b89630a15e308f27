"""Every dashboard page, driven by streamlit's AppTest on fixture DBs (no model, no browser)."""

from __future__ import annotations

import json

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboards import fixture_db

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
PAGES = ["overview", "learn_forget", "lineage", "suite", "leakage", "robustness", "history"]


@pytest.fixture(scope="module")
def full_db(tmp_path_factory) -> Path:
    return fixture_db.build(tmp_path_factory.mktemp("dash") / "full.duckdb")


def open_page(db: Path, page: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("MEDTUNE_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    if page != "overview":
        at.switch_page(f"pages/{page}.py")  # straight to the page: the overview is not rendered first
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "success", "warning", "title", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_overview_scores_and_family_filter(full_db, monkeypatch):
    at = open_page(full_db, "overview", monkeypatch)
    table = at.dataframe[0].value
    assert list(table["variant"])[0] == "smollm2-dapt-lora"  # sorted by mean score, best first
    assert {"medqa_usmle", "hellaswag", "mean"} <= set(table.columns)
    assert at.metric[0].value == "4"
    at.multiselect(key="family").set_value(["general"]).run()
    table = at.dataframe[0].value
    assert "hellaswag" in table.columns and "medqa_usmle" not in table.columns
    at.toggle(key="ci_text").set_value(True).run()
    assert any(str(v).startswith("0.") and "[" in str(v) for v in at.dataframe[0].value["hellaswag 95% CI"])
    # the open dashboard holds no connection: a run can write at once
    with fixture_db.Store(full_db, timeout_s=2).connect(write=True) as con:
        con.execute("CREATE TEMP TABLE written_while_open AS SELECT 1 AS x")
    at.run()
    assert not at.exception


def test_overview_marks_significant_changes_against_the_parent(full_db, monkeypatch):
    at = open_page(full_db, "overview", monkeypatch)
    changes = at.dataframe[1].value
    if hasattr(changes, "data"):  # a Styler
        changes = changes.data
    assert {"variant", "parent", "suite", "delta", "p_value", "mark"} <= set(changes.columns)
    # the base's latest medqa run regressed (fixture): its child is significantly better there
    row = changes[(changes.variant == "smollm2-dapt") & (changes.suite == "medqa_usmle")].iloc[0]
    assert row.parent == "smollm2-135m" and row.mark == "better" and row.p_value < 0.01 and row.n == 40
    assert set(changes["mark"]) <= {"better", "worse", "n.s."}
    assert ((changes["mark"] == "n.s.") == (changes["p_value"] >= 0.01)).all()
    assert "significantly better" in texts(at)


def test_learn_vs_forget(full_db, monkeypatch):
    at = open_page(full_db, "learn_forget", monkeypatch)
    summary = at.dataframe[0].value
    assert set(summary["variant"]) == {"smollm2-dapt", "smollm2-dapt-lora", "smollm2-qlora"}
    assert "0.060 [0.020, 0.100]" in set(summary["forgetting"])
    assert len(at.get("plotly_chart")) == 1
    tasks = at.dataframe[1].value
    tasks = getattr(tasks, "data", tasks)  # a Styler: rows coloured by significance
    assert set(tasks["suite"]) >= {"hellaswag", "medqa_usmle"}
    assert set(tasks["mark"]) == {"n.s."}  # every fixture row has p = 0.2
    assert "0 task(s) significantly better, 0 significantly worse" in texts(at)


def test_lineage_tree_and_curves(full_db, monkeypatch):
    at = open_page(full_db, "lineage", monkeypatch)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"smollm2-dapt" -> "smollm2-dapt-lora"' in dot
    assert at.selectbox(key="variant").value == "smollm2-qlora"  # newest tuned variant first
    assert len(at.get("plotly_chart")) >= 1  # its training curve
    at.selectbox(key="variant").set_value("smollm2-135m").run()
    assert "No training curve for smollm2-135m" in texts(at)


def test_suite_diff_shows_flips_with_records(full_db, monkeypatch):
    at = open_page(full_db, "suite", monkeypatch)
    at.selectbox(key="suite").set_value("medqa_usmle").run()
    at.selectbox(key="a").set_value("smollm2-135m").run()
    at.selectbox(key="b").set_value("smollm2-dapt").run()
    answers = at.dataframe[0].value  # first what each variant answers (harness.prior), then the flips
    assert {"smollm2-135m", "smollm2-dapt"} <= set(answers["variant"]) and not at.warning
    flipped = at.dataframe[1].value
    assert len(flipped) > 0 and (flipped["correct_a"] != flipped["correct_b"]).all()
    fixed, broken = int(at.metric[1].value), int(at.metric[2].value)
    assert fixed + broken == len(flipped)
    assert "Question: item" in at.text_area(key="prompt").value
    options = at.dataframe[2].value
    assert {"option", "loglik smollm2-135m", "loglik smollm2-dapt"} <= set(options.columns)


def test_leakage_page(full_db, monkeypatch):
    at = open_page(full_db, "leakage", monkeypatch)
    per_suite = at.dataframe[0].value
    assert per_suite.loc[0, "contaminated"] == 3 and per_suite.loc[0, "ratio"] == pytest.approx(3 / 40)
    body = texts(at)
    assert "Membership inference" in body and "Canary exposure" in body
    assert any("auroc" in d.value.columns and "ci_low" in d.value.columns for d in at.dataframe)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(t.get("error_x") for c in charts for t in c["data"])  # the AUROC with its CI


def test_robustness_page(full_db, monkeypatch):
    at = open_page(full_db, "robustness", monkeypatch)
    rows = at.dataframe[0].value
    assert list(rows["perturbation"])[0] == "Add typos"  # highest flip rate first
    assert "file not found" in texts(at)


def test_history_marks_regression(full_db, monkeypatch):
    at = open_page(full_db, "history", monkeypatch)
    at.selectbox(key="suite").set_value("medqa_usmle").run()
    runs = at.dataframe[0].value
    assert runs["regression"].sum() == 1 and runs.loc[runs["regression"], "variant"].item() == "smollm2-135m"
    assert "1 regression(s)" in texts(at)


@pytest.mark.parametrize("state", ["no_file", "empty", "core_only"])
def test_every_page_guides_instead_of_failing(state, tmp_path, monkeypatch):
    db = tmp_path / "x.duckdb"
    if state == "empty":
        fixture_db.Store(db).init()  # every table, no rows
    elif state == "core_only":  # an old DB: core tables only, no audit/tuning/gate tables
        sql = (Path(fixture_db.__file__).parents[2] / "harness/store/migrations/001_core.sql").read_text()
        with duckdb.connect(str(db)) as con:
            con.execute(sql)
    monkeypatch.setenv("MEDTUNE_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for page in PAGES:
        if page != "overview":
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.info, f"{page}: no guidance shown for a DB in state {state}"
        assert "medtune" in at.info[0].value


def test_audit_pages_guide_when_only_runs_exist(tmp_path, monkeypatch):
    db = fixture_db.build(tmp_path / "runs_only.duckdb", audits=False)
    at = open_page(db, "overview", monkeypatch)
    for page, hint in [("learn_forget", "medtune forgetting"), ("leakage", "medtune audit leakage"),
                       ("robustness", "medtune audit robustness")]:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception and hint in at.info[0].value


def test_dashboard_imports_no_model_code():
    """Dashboards read the schema only: no torch, transformers or tuning/ behind any page or module."""
    root = Path(APP).parent
    for path in sorted(root.rglob("*.py")):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith(("import ", "from ")):
                assert not any(m in line for m in ("torch", "transformers", "tuning", "peft", "harness.models",
                                                   "harness.evaluate", "harness.engine")), (path, line)


def test_suite_diff_shows_ner_entities(tmp_path, monkeypatch):
    from harness.store.variants import register_variant

    store = fixture_db.Store(tmp_path / "ner.duckdb")
    gold = [{"start": 0, "end": 2, "text": "breast cancer", "type": "Disease"}]
    with store.connect(write=True) as con:
        for k, name in enumerate(("bert-base", "bert-ner")):
            register_variant(store, name, "/m", "encoder", con=con)
            predicted = gold if k else [{"start": 1, "end": 2, "text": "cancer", "type": "Disease"}]
            samples = [{"doc_id": f"s{i}", "target": "B I O", "prediction": "B I O" if k else "O B O",
                        "correct": bool(k), "score": float(k), "scores": {"f1": float(k), "tp": k, "fp": 1 - k, "fn": 1 - k},
                        "record": {"words": ["breast", "cancer", "risk"],
                                   "entities": {"gold": gold, "predicted": predicted}}} for i in range(3)]
            fixture_db.write_run(con, f"n{k}", name, "ner_ncbi_disease", samples, fixture_db.T0)
    at = open_page(store.path, "suite", monkeypatch)
    assert int(at.metric[1].value) == 3  # fixed by bert-ner
    assert at.text_area(key="sentence").value == "breast cancer risk"
    entities = at.dataframe[-1].value.set_index("entity")
    assert entities.loc["breast cancer", "gold"] and entities.loc["breast cancer", "bert-ner"]
    assert not entities.loc["cancer", "gold"] and entities.loc["cancer", "bert-base"]
