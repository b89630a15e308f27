"""`medtune monitor check` and `profile`: exit codes 0/1/2, the readable report, JUnit/Markdown, stored alerts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.monitor import ingest_files
from harness.store import Store
from tests.harness.clihelp import run_cli
from tests.monitor.helpers import chat, write_jsonl, write_log

POLICY = Path(__file__).resolve().parents[2] / "harness" / "monitor" / "policies" / "default.yaml"
FAST = ["--embed", "hash", "--window", "day"]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("check")
    out = {}
    for name, drift_day in (("drift", 5), ("clean", 0)):
        store = Store(tmp / f"{name}.duckdb")
        ingest_files(store, [write_log(tmp / f"{name}.jsonl", drift_day=drift_day)], "v1")
        out[name] = store.path
    return out


@pytest.fixture()
def policy(tmp_path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.read_text().replace("min_records: 100", "min_records: 50"))
    return path


def test_alert_on_exactly_the_drifted_day_with_reports(dbs, policy, tmp_path, capsys):
    junit, md = tmp_path / "out" / "monitor.xml", tmp_path / "out" / "monitor.md"
    code, out, err = run_cli(capsys, "monitor", "check", "--variant", "v1", "--policy", str(policy), "--db",
                             str(dbs["drift"]), "--junit", str(junit), "--markdown", str(md), *FAST)
    assert code == 1, err
    text = flat(out)
    assert "❌ fail max_drift[2026-12-05]: drift: " in text and "prompt_embedding mmd" in text
    assert "ALERT 1 of 30 checks failed, in 2026-12-05" in text
    tree = ET.parse(junit).getroot()
    assert tree.get("tests") == "30" and tree.get("failures") == "1"
    failed = [c.get("name") for c in tree.iter("testcase") if c.find("failure") is not None]
    assert failed == ["max_drift[2026-12-05]"]
    report = md.read_text()
    assert report.startswith("## medtune monitor ❌ failed: `v1`") and "**Alerts in:** 2026-12-05" in report
    assert "Example prompts, 2026-12-05:" in report and "| ✅ pass | `max_pii[2026-12-02]`" in report
    store = Store(dbs["drift"])
    run = store.query("SELECT * FROM monitor_runs WHERE passed IS NOT NULL ORDER BY created_at DESC LIMIT 1")
    assert not run.loc[0, "passed"] and run.loc[0, "n_failed"] == 1
    alerts = store.query("SELECT * FROM monitor_alerts WHERE run_id = ? AND NOT passed", [run.loc[0, "run_id"]])
    assert alerts["label"].tolist() == ["max_drift[2026-12-05]"]


def test_clean_traffic_passes_and_profile_prints_the_windows(dbs, policy, capsys):
    code, out, err = run_cli(capsys, "monitor", "check", "--variant", "v1", "--policy", str(policy), "--db",
                             str(dbs["clean"]), *FAST, "--verbose")
    assert code == 0, err
    assert "PASS 30 checks" in flat(out) and "✅ pass max_refusal_rate[2026-12-07]" in flat(out)
    code, out, err = run_cli(capsys, "monitor", "profile", "--variant", "v1", "--db", str(dbs["drift"]), "--embed",
                             "none", "--last", "3")
    assert code == 0, err
    text = flat(out)
    assert "2026-12-05" in text and "prompt_chars" in text and "not tested" in text


def test_bad_input_exits_2_with_one_line(dbs, policy, tmp_path, capsys):
    db = str(dbs["clean"])
    cases = []
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("rules:\n  - rule: max_drift\n  - rule: max_latency\n")
    cases.append((["--policy", str(unknown)], f"{unknown}:3: rules[1].rule: unknown rule 'max_latency'"))
    feature = tmp_path / "feature.yaml"
    feature.write_text("rules:\n  - rule: max_drift\n    features: [prompt_chars, topic]\n")
    cases.append((["--policy", str(feature)], f"{feature}:3: rules[0].features: unknown feature 'topic'"))
    typo = tmp_path / "typo.yaml"
    typo.write_text("significance: 0.01\nrules:\n  - rule: max_pii\n    max_rates: 0\n")
    cases.append((["--policy", str(typo)], f"{typo}:4: rules[0].max_rates: Extra inputs are not permitted"))
    nan = tmp_path / "nan.yaml"
    nan.write_text("rules:\n  - rule: max_refusal_rate\n    max_increase: .nan\n")
    cases.append((["--policy", str(nan)], f"{nan}:3: rules[0].max_increase"))
    cases.append((["--policy", str(policy), "--reference", "window:1999-01-01"], "no traffic in that day"))
    cases.append((["--policy", str(policy), "--window", "month"], "--window month: one of hour, day, week"))
    cases.append((["--policy", str(policy), "--junit", str(tmp_path)], "is a folder"))
    cases.append((["--policy", str(policy), "--embed", "bert"], "--embed bert: one of minilm, hash, none"))
    for args, needle in cases:
        code, out, err = run_cli(capsys, "monitor", "check", "--variant", "v1", "--db", db, *FAST, *args)
        assert code == 2 and needle in flat(err), (args, err)
        assert "Traceback" not in err and err.count("error:") == 1
    code, _, err = run_cli(capsys, "monitor", "check", "--variant", "ghost", "--db", db, "--policy", str(policy))
    assert code == 2 and "no traffic for variant 'ghost'" in flat(err)


def test_refusal_pii_collapse_and_quality_rules(tmp_path, capsys, db):
    day1 = [chat(i, prompt=f"Question {i} about asthma", response=f"Answer {i}: use the inhaler twice daily.",
                 feedback=1) for i in range(120)]
    canned = "I'm sorry, but I can't help with that. Call 555-123-4567."
    day2 = [{**chat(i, prompt=f"Question {i} about asthma", response=canned, feedback=0),
             "timestamp": f"2026-12-02T10:{i % 60:02d}:{i // 60:02d}Z"} for i in range(120)]
    log = write_jsonl(tmp_path / "t.jsonl", day1 + day2)
    assert run_cli(capsys, "monitor", "ingest", str(log), "--variant", "v1", "--db", str(db))[0] == 0
    pol = tmp_path / "p.yaml"
    pol.write_text("min_records: 50\nrules:\n  - rule: max_refusal_rate\n    max_increase: 0.05\n"
                   "  - rule: max_pii\n  - rule: max_answer_share\n    max_share: 0.5\n"
                   "  - rule: max_quality_drop\n    max_drop: 0.1\n")
    code, out, err = run_cli(capsys, "monitor", "check", "--variant", "v1", "--policy", str(pol), "--db", str(db),
                             "--embed", "none")
    assert code == 1, err
    text = flat(out)
    assert "max_refusal_rate[2026-12-02]: refusal rate 1.000 rose by 1.000 > 0.05" in text
    assert "max_pii[2026-12-02]: PII in 1.0000 of responses (120 findings: phone 120) > 0" in text
    assert "max_answer_share[2026-12-02]: one response is 1.000 of the window > 0.5" in text
    assert "max_quality_drop[2026-12-02]: quality 0.000 [0.000, 0.031] (n=120, feedback) dropped 1.000" in text
    assert "ALERT 4 of 4 checks failed, in 2026-12-02" in text
