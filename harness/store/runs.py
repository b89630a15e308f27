"""Runs, metrics and samples: written atomically, looked up by cache key, read as tables."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pandas as pd

from harness import __version__
from harness.store.db import Store, to_json
from harness.store.variants import _has_table, ensure_variant


def run_key(variant: str, model_location: str, suite_name: str, suite_hash: str, settings: dict, engine: str) -> str:
    payload = to_json({"variant": variant, "model": model_location, "suite": suite_name, "hash": suite_hash,
                       "settings": settings, "engine": engine})
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit (and '-dirty') when run from a checkout."""
    here = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha, dirty = "", ""
    return f"{__version__}+{sha}{'-dirty' if dirty else ''}" if sha else __version__


def machine() -> dict:
    import os

    info = {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def find_run(store: Store, key: str, since: datetime | None = None) -> dict | None:
    """The latest run with this key (finished at or after ``since``, if given)."""
    if not store.path.exists():
        return None
    with store.connect() as con:
        if not _has_table(con, "runs"):
            return None
        cur = con.execute("SELECT run_id, finished_at FROM runs WHERE run_key = ? AND (? IS NULL OR finished_at >= ?) "
                          "ORDER BY finished_at DESC LIMIT 1", [key, since, since])
        row = cur.fetchone()
        return {"run_id": row[0], "finished_at": row[1]} if row else None


def write_run(store: Store, *, key: str, variant: str, model_info, suite, engine: str, settings: dict,
              samples, metrics, started_at: datetime, duration_s: float) -> str:
    """All of a run's rows in one transaction: a reader never sees half a run."""
    return write_run_once(store, key=key, variant=variant, model_info=model_info, suite=suite, engine=engine,
                          settings=settings, samples=samples, metrics=metrics, started_at=started_at,
                          duration_s=duration_s, reuse_since=None)[0]


def write_run_once(store: Store, *, key: str, variant: str, model_info, suite, engine: str, settings: dict,
                   samples, metrics, started_at: datetime, duration_s: float,
                   reuse_since: datetime | None) -> tuple[str, bool]:
    """Like ``write_run``, but if a run with the same key finished at or after ``reuse_since`` (an
    identical eval that ran concurrently), nothing is written and that run is returned instead.

    The check happens inside the write transaction, under the store's exclusive lock, so two
    identical evals never both insert. Returns ``(run_id, written)``.
    """
    run_id = uuid.uuid4().hex[:16]
    finished = datetime.now(timezone.utc).replace(tzinfo=None)
    sample_df = pd.DataFrame({
        "run_id": run_id,
        "sample_idx": range(len(samples)),
        "doc_id": [s.doc_id for s in samples],
        "target": [_text(s.target) for s in samples],
        "prediction": [_text(s.prediction) for s in samples],
        "correct": [s.correct for s in samples],
        "score": [s.score for s in samples],
        "scores": [to_json(s.scores) for s in samples],
        "record": [to_json(s.record) for s in samples],
    })
    with store.connect(write=True) as con:
        if reuse_since is not None:
            row = con.execute("SELECT run_id FROM runs WHERE run_key = ? AND finished_at >= ? "
                              "ORDER BY finished_at DESC LIMIT 1", [key, reuse_since]).fetchone()
            if row is not None:
                return row[0], False
        ensure_variant(store, con, variant, model_info.path, model_info.kind)
        con.execute("INSERT OR IGNORE INTO suites (name, version_hash, family, type, spec) VALUES (?, ?, ?, ?, ?)",
                    [suite.name, suite.version, suite.spec.family, suite.spec.type, to_json(suite.spec.model_dump())])
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, key, variant, suite.name, suite.version, engine, to_json(settings), to_json(vars(model_info)),
             code_version(), to_json(machine()), len(samples), started_at, finished, duration_s,
             len(samples) / duration_s if duration_s > 0 else None],
        )
        for m in metrics:
            con.execute("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", [run_id, m.name, m.value, m.ci_low, m.ci_high, m.n])
        con.register("sample_df", sample_df)
        con.execute("INSERT INTO samples SELECT * FROM sample_df")
        con.unregister("sample_df")
    return run_id, True


def _text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


LATEST_RUNS_SQL = """
    SELECT * FROM (
        SELECT r.*, row_number() OVER (PARTITION BY r.variant, r.suite ORDER BY r.finished_at DESC) AS rn
        FROM runs r
    ) WHERE rn = 1
"""


def results_table(store: Store, variants: list[str] | None = None, suites: list[str] | None = None) -> pd.DataFrame:
    """The latest run per (variant, suite), one row per metric, with CIs."""
    sql = f"""
        SELECT l.variant, l.suite, l.engine, l.n_samples, m.metric, m.value, m.ci_low, m.ci_high, l.finished_at, l.run_id
        FROM ({LATEST_RUNS_SQL}) l JOIN metrics m USING (run_id)
        WHERE (? IS NULL OR list_contains(?, l.variant)) AND (? IS NULL OR list_contains(?, l.suite))
        ORDER BY l.suite, l.variant, m.metric
    """
    with store.connect() as con:
        if not _has_table(con, "runs"):
            return pd.DataFrame(columns=["variant", "suite", "engine", "n_samples", "metric", "value", "ci_low", "ci_high"])
        return con.execute(sql, [variants, variants, suites, suites]).df()
