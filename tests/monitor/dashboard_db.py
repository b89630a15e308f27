"""A results DB for the Monitoring page: the dashboard fixture (variants, eval runs) plus a week of traffic of
``smollm2-dapt-lora`` with a paediatric drift on 2026-12-05, checked by the default policy, and a profile of
another variant."""

from __future__ import annotations

from pathlib import Path

from harness.monitor import Settings, analyse, ingest_files, load_policy, run_check, save
from harness.monitor.check import record
from tests.dashboards import fixture_db
from tests.monitor.helpers import write_log

VARIANT = "smollm2-dapt-lora"
POLICY = Path(__file__).resolve().parents[2] / "harness" / "monitor" / "policies" / "default.yaml"


def build(path: Path) -> Path:
    fixture_db.build(path, audits=False)
    store = fixture_db.Store(path)
    ingest_files(store, [write_log(path.with_name("traffic.jsonl"))], VARIANT)
    policy = load_policy(POLICY)
    policy.min_records = 50
    report = run_check(store, VARIANT, policy, Settings(embed="hash", reference="window:2026-12-01"),
                       policy_path=str(POLICY))
    record(store, report)
    ingest_files(store, [write_log(path.with_name("other.jsonl"), n=700, drift_day=0, model="smollm2-qlora")],
           "smollm2-qlora")
    save(store, analyse(store, "smollm2-qlora", Settings(embed="none", min_records=50, reference="window:2026-12-01")))
    return path
