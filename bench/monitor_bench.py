"""Monitoring at scale: ingest N synthetic traffic records, then check them; speed, peak memory, and whether the
injected drift is found on the right day with no alert on the clean days.

    python bench/monitor_bench.py [--records 1000000] [--days 7] [--drift-day 5] [--embed minilm|hash|none]
                                  [--format jsonl|parquet] [--workdir DIR] [--rss-limit-mb 2048] [--keep]

1. ``bench/monitor_traffic.py`` writes the log (not timed): ``--records`` over ``--days`` days, a shift to
   paediatric questions (and lower thumbs-up) on ``--drift-day``;
2. ``medtune monitor ingest LOG --variant bench`` runs in its own process: wall time, records/s and that
   process's peak RSS (``ru_maxrss``: Python, pyarrow and DuckDB together);
3. the same command again: idempotence (nothing added) and its time (the file hash only);
4. ``medtune monitor check --policy harness/monitor/policies/default.yaml --embed ...`` in its own process:
   wall time, peak RSS, and the windows it alerts on, read back from the DB.

Exit 1 when the alerted windows are not exactly the injected drift day(s), or a peak RSS is over the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUNNER = """
import json, resource, sys
from harness.cli import main
code = 0
try:
    sys.argv = ["medtune", *sys.argv[2:]]
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
finally:
    with open(sys_argv_out, "w") as f:
        json.dump({"code": code, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, f)
"""


def medtune(args: list[str], out_json: Path, env: dict) -> tuple[int, float, float, str]:
    """Run ``medtune ARGS`` in a fresh process; (exit code, seconds, peak RSS MiB, stdout)."""
    code = RUNNER.replace("sys_argv_out", repr(str(out_json)))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, "medtune", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if not out_json.exists():
        raise SystemExit(f"medtune {' '.join(args)} died:\n{proc.stderr[-3000:]}")
    res = json.loads(out_json.read_text())
    out_json.unlink()
    if res["code"] not in (0, 1):
        raise SystemExit(f"medtune {' '.join(args)} failed ({res['code']}):\n{proc.stderr[-3000:]}")
    return res["code"], seconds, res["maxrss_kb"] / 1024, proc.stdout + proc.stderr


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--drift-day", type=int, default=5)
    ap.add_argument("--drift-days", type=int, default=1)
    ap.add_argument("--embed", default="minilm", choices=["minilm", "hash", "none"])
    ap.add_argument("--format", default="jsonl", choices=["jsonl", "parquet"])
    ap.add_argument("--workdir", default=None, help="Where the log and DB go (default: a temporary folder)")
    ap.add_argument("--rss-limit-mb", type=float, default=2048, help="Fail when a step's peak RSS is above this")
    ap.add_argument("--data-root", default=os.environ.get("MEDTUNE_DATA"))
    ap.add_argument("--keep", action="store_true", help="Keep the log and DB")
    a = ap.parse_args(argv)

    from bench import monitor_traffic

    work = Path(a.workdir or tempfile.mkdtemp(prefix="medtune-monitor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"traffic.{a.format}"
    db = work / "monitor.duckdb"
    for p in (db, db.with_name(db.name + ".lock"), db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    root = Path(a.data_root) if a.data_root and Path(a.data_root).is_dir() else None
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "COLUMNS": "200"}

    t = time.perf_counter()
    monitor_traffic.write(log, a.records, a.format, days=a.days, drift_day=a.drift_day, drift_days=a.drift_days,
                          data_root=root)
    gen_s = time.perf_counter() - t
    size_mb = log.stat().st_size / 2**20
    print(f"log: {log} · {a.records:,} records · {size_mb:,.0f} MiB · written in {gen_s:.0f} s "
          f"(exam questions from {root or 'templates only: no data root'})")

    code, ingest_s, ingest_rss, out = medtune(["monitor", "ingest", str(log), "--variant", "bench", "--db", str(db)],
                                              work / "ingest.json", env)
    rate = a.records / ingest_s
    import re

    inner = re.search(r"records read in ([\d.]+) s \(([\d,]+)/s\)", " ".join(out.split()))
    inside = f" ({inner.group(2)} records/s inside the command, {inner.group(1)} s)" if inner else ""
    print(f"ingest: {ingest_s:.1f} s · {rate:,.0f} records/s end to end{inside} · peak RSS {ingest_rss:,.0f} MiB · "
          f"DB {db.stat().st_size / 2**20:,.0f} MiB")
    code2, again_s, _, out2 = medtune(["monitor", "ingest", str(log), "--variant", "bench", "--db", str(db)],
                                      work / "again.json", env)
    idempotent = "nothing added" in " ".join(out2.split())
    print(f"ingest again: {again_s:.1f} s · {'nothing added' if idempotent else 'RECORDS ADDED AGAIN'}")

    policy = ROOT / "harness" / "monitor" / "policies" / "default.yaml"
    suites = []  # the suites to name as nearest to a drifted window (their questions, from the data root)
    if root is not None and a.embed != "none":
        suites = ["--data-root", str(root)] + [x for s in ("medqa_usmle", "medmcqa", "pubmedqa", "mmlu_medical")
                                                for x in ("--suite", s)]
    code3, check_s, check_rss, out3 = medtune(["monitor", "check", "--variant", "bench", "--db", str(db), "--policy",
                                               str(policy), "--embed", a.embed, "--markdown", str(work / "check.md"),
                                               "--junit", str(work / "check.xml"), *suites], work / "check.json", env)
    from harness.store import Store

    store = Store(db)
    run = store.query("SELECT run_id FROM monitor_runs WHERE passed IS NOT NULL ORDER BY created_at DESC LIMIT 1")
    run_id = run["run_id"][0]
    failed = store.query("SELECT rule, window_start, detail FROM monitor_alerts WHERE run_id = ? AND NOT passed "
                         "ORDER BY window_start, rule", [run_id])
    drift = store.query("SELECT window_start, feature, effect_name, effect, p_adjusted FROM monitor_drift "
                        "WHERE run_id = ? AND drifted ORDER BY window_start, feature", [run_id])
    near = store.query("SELECT window_start, nearest_suites FROM monitor_windows WHERE run_id = ? AND role = 'window'",
                       [run_id])
    start = datetime(2026, 12, 1)
    injected = {start + timedelta(days=d - 1) for d in range(a.drift_day, a.drift_day + a.drift_days)} \
        if a.drift_day else set()
    alerted = {w.to_pydatetime() for w in failed["window_start"]}
    print(f"check ({a.embed}): {check_s:.1f} s · peak RSS {check_rss:,.0f} MiB · exit {code3}")
    for row in failed.itertuples():
        print(f"  alert {row.window_start:%Y-%m-%d} {row.rule}: {row.detail}")
    for row in drift.itertuples():
        print(f"  drifted {row.window_start:%Y-%m-%d} {row.feature}: {row.effect_name} {row.effect:.3f} "
              f"(p_adj {row.p_adjusted:.1e})")
    for row in near.itertuples():
        if row.window_start.to_pydatetime() in alerted and isinstance(row.nearest_suites, str):
            print(f"  nearest suites {row.window_start:%Y-%m-%d}: {row.nearest_suites}")
    ok = alerted == injected and code3 == (1 if injected else 0)
    days = lambda ws: ", ".join(sorted(f"{w:%Y-%m-%d}" for w in ws)) or "none"  # noqa: E731
    print(f"injected drift: {days(injected)} · alerts: {days(alerted)} · "
          + ("PASS: alerts on exactly the injected day(s)" if ok else "FAIL: alerts differ from the injected drift"))
    rss_ok = max(ingest_rss, check_rss) <= a.rss_limit_mb
    print(f"memory: ingest {ingest_rss:,.0f} MiB, check {check_rss:,.0f} MiB · limit {a.rss_limit_mb:,.0f} MiB · "
          + ("PASS" if rss_ok else "FAIL"))
    if not a.keep and not a.workdir:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok and rss_ok and idempotent else 1


if __name__ == "__main__":
    sys.exit(main())
