"""Rubric judging throughput: judged criteria per second against a loopback OpenAI-compatible server that
sleeps ``--delay-ms`` per call (a real judge's latency), at judge concurrency 1 and 16.

    python bench/judge_bench.py [--criteria 160] [--delay-ms 20] [--concurrency 1 16] [--json]

Each setting grades the same ``--criteria`` fresh (criterion, response) items with no cache (the DB cache
would answer them all the second time). Exit 1 when concurrency 16 is not at least 4x faster than 1
(the concurrency must pay while the server's latency dominates).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.judge import Item, configure, grade, make_judge  # noqa: E402
from tests.judge.loopback import Loopback  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criteria", type=int, default=160)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    conv = ({"role": "user", "content": "I have chest pain. What should I do?"},)
    rows = []
    with Loopback("ok", delay_s=args.delay_ms / 1000) as srv:
        for conc in args.concurrency:
            items = [Item(conv, f"response {conc}-{i}", f"criterion number {i}", 5.0) for i in range(args.criteria)]
            configure(concurrency=conc)
            t0 = time.perf_counter()
            verdicts = grade(make_judge(srv.url, "bench"), items)
            dt = time.perf_counter() - t0
            assert not any(v.failed for v in verdicts)
            rows.append({"concurrency": conc, "criteria": len(items), "seconds": round(dt, 3),
                         "criteria_per_s": round(len(items) / dt, 1), "max_in_flight": srv.max_in_flight})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"judged criteria per second, loopback server sleeping {args.delay_ms:g} ms per call:")
        for r in rows:
            print(f"  concurrency {r['concurrency']:>3}: {r['criteria_per_s']:>8.1f} criteria/s "
                  f"({r['criteria']} in {r['seconds']:.2f} s)")
    by = {r["concurrency"]: r["criteria_per_s"] for r in rows}
    if 1 in by and 16 in by:
        speedup = by[16] / by[1]
        print(f"  speedup 16 vs 1: {speedup:.1f}x")
        return 0 if speedup >= 4 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
