"""Small synthetic traffic logs for the monitoring tests (bench/monitor_traffic.py's generator, templates only)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import monitor_traffic

DAYS, DRIFT_DAY = 7, 5


def write_log(path: Path, n: int = 1400, drift_day: int = DRIFT_DAY, fmt: str = "jsonl", **kwargs) -> Path:
    """``n`` records over 7 days (2026-12-01 ..), paediatric drift on ``drift_day`` (0: none)."""
    kwargs.setdefault("pool_size", 300)
    return monitor_traffic.write(path, n, fmt, days=DAYS, drift_day=drift_day, drift_days=1 if drift_day else 0,
                                 data_root=None, **kwargs)


def write_jsonl(path: Path, records: list) -> Path:
    """One line per item: dicts as JSON, strings as they are (for bad lines)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def chat(i: int, prompt: str = "What is the usual dose of metformin?", response: str = "Usually 500 mg twice daily.",
         **extra) -> dict:
    return {"timestamp": f"2026-12-01T{10 + i // 60:02d}:{i % 60:02d}:00Z", "model": "m",
            "messages": [{"role": "user", "content": f"{prompt} ({i})"}],
            "response": {"role": "assistant", "content": response}, **extra}
