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
from harness.store.records import MetricRow, RunRecord, SampleRow, SuiteRecord, insert
from harness.store.variants import ensure_variant


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
    with store.connect() as con:
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
    samples_rows = [SampleRow(run_id=run_id, sample_idx=i, doc_id=s.doc_id, target=_text(s.target),
                              prediction=_text(s.prediction), correct=s.correct, score=s.score, scores=to_json(s.scores),
                              record=to_json(s.record)) for i, s in enumerate(samples)]
    run = RunRecord(run_id=run_id, run_key=key, variant=variant, suite=suite.name, suite_hash=suite.version,
                    engine=engine, settings=settings, model=vars(model_info), code_version=code_version(),
                    machine=machine(), n_samples=len(samples), started_at=started_at, finished_at=finished,
                    duration_s=duration_s, samples_per_s=len(samples) / duration_s if duration_s > 0 else None,
                    protocol_id=_protocol(settings).get("id"), protocol=_protocol(settings).get("label"))
    with store.connect(write=True) as con:
        if reuse_since is not None:
            row = con.execute("SELECT run_id FROM runs WHERE run_key = ? AND finished_at >= ? "
                              "ORDER BY finished_at DESC LIMIT 1", [key, reuse_since]).fetchone()
            if row is not None:
                return row[0], False
        ensure_variant(store, con, variant, model_info.path, model_info.kind)
        insert(con, [SuiteRecord(name=suite.name, version_hash=suite.version, family=suite.spec.family,
                                 type=suite.spec.type, spec=suite.spec.model_dump())], mode="OR IGNORE")
        insert(con, [run])
        insert(con, [MetricRow(run_id=run_id, metric=m.name, value=m.value, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n,
                               higher_is_better=m.higher_is_better) for m in metrics])
        insert(con, samples_rows, frame=True)
    return run_id, True


def _protocol(settings) -> dict:
    """The scoring protocol the evaluation put in the run's settings (``suites._protocol``), else {}."""
    proto = (settings or {}).get("protocol") if isinstance(settings, dict) else None
    return proto if isinstance(proto, dict) else {}


def run_protocols(store: Store, run_ids: list[str]) -> dict[str, dict | None]:
    """run_id -> the protocol recorded in its settings (None for a run from before protocols were recorded)."""
    if not run_ids:
        return {}
    marks = ",".join("?" * len(run_ids))
    with store.connect() as con:
        rows = con.execute(f"SELECT run_id, settings FROM runs WHERE run_id IN ({marks})", list(run_ids)).fetchall()
    out = {rid: None for rid in run_ids}
    for rid, settings in rows:
        settings = json.loads(settings) if isinstance(settings, str) else settings
        out[rid] = _protocol(settings) or None
    return out


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
        SELECT l.variant, l.suite, l.engine, l.n_samples, m.metric, m.value, m.ci_low, m.ci_high, l.finished_at, l.run_id,
               m.higher_is_better, l.protocol, l.protocol_id
        FROM ({LATEST_RUNS_SQL}) l JOIN metrics m USING (run_id)
        WHERE (? IS NULL OR list_contains(?, l.variant)) AND (? IS NULL OR list_contains(?, l.suite))
        ORDER BY l.suite, l.variant, m.metric
    """
    with store.connect() as con:
        return con.execute(sql, [variants, variants, suites, suites]).df()


# -- reads of runs and samples (gate, forgetting, leakage) --------------------------------------
def sample_scores(store: Store, run_id: str) -> pd.DataFrame:
    """A run's samples in suite order: doc_id, score, scores (JSON text)."""
    with store.connect() as con:
        return con.execute("SELECT doc_id, score, scores FROM samples WHERE run_id = ? ORDER BY sample_idx",
                           [run_id]).df()


def sample_predictions(store: Store, run_id: str) -> pd.DataFrame:
    """A run's samples in suite order: prediction and record (JSON text), e.g. to count the answers chosen."""
    with store.connect() as con:
        return con.execute("SELECT prediction, record FROM samples WHERE run_id = ? ORDER BY sample_idx",
                           [run_id]).df()


def sample_answers(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """The answers of runs' samples, in suite order (``harness.prior``): run_id, doc_id, target, prediction,
    correct, and from the record (JSON text, NULL when absent) only what the answer checks read: options,
    loglikelihoods, and whether the sample extracted an answer from a generation."""
    if not run_ids:
        return pd.DataFrame(columns=["run_id", "doc_id", "target", "prediction", "correct", "options",
                                     "loglikelihoods", "generated"])
    marks = ",".join("?" * len(run_ids))
    with store.connect() as con:
        return con.execute(
            "SELECT run_id, doc_id, target, prediction, correct, CAST(record->'options' AS VARCHAR) AS options, "
            "CAST(record->'loglikelihoods' AS VARCHAR) AS loglikelihoods, "
            "json_exists(record, '$.extracted') AS generated "
            f"FROM samples WHERE run_id IN ({marks}) ORDER BY run_id, sample_idx", list(run_ids)).df()


def latest_run_id(store: Store, variant: str, suite: str) -> str | None:
    """The run_id of the variant's latest run of ``suite`` (None when it has none)."""
    with store.connect() as con:
        row = con.execute("SELECT run_id FROM runs WHERE variant = ? AND suite = ? ORDER BY finished_at DESC LIMIT 1",
                          [variant, suite]).fetchone()
    return row[0] if row else None


def latest_metric(store: Store, variant: str, suite: str, metric: str) -> dict | None:
    """The latest run's metric row: run_id, value, ci_low, ci_high, n (None if no such run/metric)."""
    with store.connect() as con:
        df = con.execute(f"""
            SELECT l.run_id, m.value, m.ci_low, m.ci_high, coalesce(m.n, l.n_samples) AS n, m.higher_is_better
            FROM ({LATEST_RUNS_SQL}) l JOIN metrics m USING (run_id)
            WHERE l.variant = ? AND l.suite = ? AND m.metric = ?""", [variant, suite, metric]).df()
    return df.iloc[0].to_dict() if len(df) else None


def stored_metrics(store: Store) -> list[tuple[str, str]]:
    """(suite, metric) for every metric any run stored."""
    with store.connect() as con:
        return con.execute("SELECT DISTINCT r.suite, m.metric FROM runs r JOIN metrics m USING (run_id)").fetchall()


def scored_suites(store: Store, variant: str) -> list[str]:
    with store.connect() as con:
        return [r[0] for r in con.execute("SELECT DISTINCT suite FROM runs WHERE variant = ? ORDER BY suite",
                                          [variant]).fetchall()]


def suite_rows(store: Store) -> list[tuple]:
    """(name, family, type, spec JSON) of every suite version the DB has seen, oldest first."""
    with store.connect() as con:
        return con.execute("SELECT name, family, type, spec FROM suites ORDER BY created_at").fetchall()


def latest_run_samples(store: Store, variant: str, suites: list[str]) -> pd.DataFrame:
    """suite, run_id, doc_id, scores of the variant's latest run of each of ``suites``."""
    marks = ",".join("?" * len(suites))
    with store.connect() as con:
        return con.execute(
            f"SELECT r.suite, r.run_id, s.doc_id, s.scores FROM samples s JOIN ("
            f"  SELECT run_id, suite, row_number() OVER (PARTITION BY suite ORDER BY finished_at DESC) AS k"
            f"  FROM runs WHERE variant = ? AND suite IN ({marks})) r ON s.run_id = r.run_id WHERE r.k = 1",
            [variant, *suites]).df()


def metric_rows(store: Store, run_id: str) -> list[MetricRow]:
    """The metrics a run recorded, by metric name."""
    from harness.store.records import select

    with store.connect() as con:
        return select(con, MetricRow, "run_id = ?", [run_id], order="metric")
