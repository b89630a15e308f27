"""Monitoring tables (migration 011): every read and write of ``medtune monitor`` and its dashboard page.

Writes: ``load_traffic`` (one transaction per traffic file, from a staged Parquet file) and ``save_analysis``
(one transaction per analysis). Reads are short: aggregates per window, seeded samples, cached embeddings.
A window is ``date_trunc(granularity, ts)`` (hour | day | week, weeks starting on Monday, UTC).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from harness.store.db import Store
from harness.store.records import (MonitorAlert, MonitorDrift, MonitorEmbedding, MonitorQuality, MonitorRun,
                                   MonitorWindow, TrafficFile, insert)

GRANULARITIES = ("hour", "day", "week")
TRAFFIC_COLUMNS = ("variant", "record_hash", "file_sha256", "line", "ts", "model", "prompt", "response", "feedback",
                   "prompt_chars", "response_chars", "prompt_words", "response_words", "language", "refusal",
                   "pii_kinds", "pii_count", "response_key", "first_token")


def _trunc(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity {granularity!r}")
    return f"date_trunc('{granularity}', ts)"


def _order(seed: int, salt: str = "") -> str:
    """A seeded, repeatable order of records (md5: the same across DuckDB versions)."""
    return f"md5(record_hash || '{int(seed)}{salt}')"


# -- ingest --------------------------------------------------------------------------------------------
def ingested_files(store: Store, variant: str) -> set[str]:
    with store.connect() as con:
        return {r[0] for r in con.execute("SELECT file_sha256 FROM traffic_files WHERE variant = ?",
                                          [variant]).fetchall()}


#: DuckDB's memory for loading a traffic file: above it, DuckDB spills to its temporary folder, so that a large
#: file loads in bounded memory (its default is 80% of the machine's RAM, all of which a big insert may take)
LOAD_MEMORY = "256MB"


def load_traffic(store: Store, staged: str | None, file_row: TrafficFile) -> int | None:
    """One transaction: the staged file's records the variant does not hold yet (the first of each record hash)
    and the ``traffic_files`` row (its ``n_added``/``n_duplicates`` filled in). Returns the records added, or
    None when the file was ingested meanwhile (by another process)."""
    cols = ", ".join(TRAFFIC_COLUMNS)
    with store.connect(write=True) as con:
        con.execute(f"SET memory_limit = '{LOAD_MEMORY}'")
        if con.execute("SELECT 1 FROM traffic_files WHERE variant = ? AND file_sha256 = ?",
                       [file_row.variant, file_row.file_sha256]).fetchone():
            return None
        added = 0
        if staged is not None:
            con.execute("SET preserve_insertion_order = false")
            con.execute("""
                CREATE TEMP TABLE _medtune_keep AS
                SELECT min(line) AS line FROM read_parquet(?) s
                WHERE NOT EXISTS (SELECT 1 FROM traffic t WHERE t.variant = s.variant AND t.record_hash = s.record_hash)
                GROUP BY record_hash""", [staged])
            added = con.execute("SELECT count(*) FROM _medtune_keep").fetchone()[0]
            con.execute(f"INSERT INTO traffic ({cols}) SELECT {cols} FROM read_parquet(?) "
                        "WHERE line IN (SELECT line FROM _medtune_keep)", [staged])
            con.execute("DROP TABLE _medtune_keep")
        file_row.n_added = added
        file_row.n_duplicates = (file_row.n_read or 0) - added
        insert(con, [file_row])
    return added


# -- analysis reads ------------------------------------------------------------------------------------
def traffic_variants(store: Store) -> list[str]:
    with store.connect() as con:
        return [r[0] for r in con.execute("SELECT DISTINCT variant FROM traffic ORDER BY 1").fetchall()]


def has_traffic(store: Store, variant: str) -> bool:
    with store.connect() as con:
        return con.execute("SELECT 1 FROM traffic WHERE variant = ? LIMIT 1", [variant]).fetchone() is not None


def window_profiles(store: Store, variant: str, granularity: str) -> dict[datetime, dict]:
    """Per window: counts, length quantiles, refusals, PII, feedback count, language / first-word / PII-kind
    counts and the commonest normalised response's count."""
    w = _trunc(granularity)
    out: dict[datetime, dict] = {}
    with store.connect() as con:
        rows = con.execute(f"""
            SELECT {w} AS w, count(*) AS n,
                   avg(prompt_chars), quantile_cont(prompt_chars, 0.5), quantile_cont(prompt_chars, 0.95),
                   avg(response_chars), quantile_cont(response_chars, 0.5), quantile_cont(response_chars, 0.95),
                   sum(CASE WHEN refusal THEN 1 ELSE 0 END), sum(CASE WHEN pii_count > 0 THEN 1 ELSE 0 END),
                   sum(pii_count), count(feedback)
            FROM traffic WHERE variant = ? GROUP BY 1 ORDER BY 1""", [variant]).fetchall()
        for (start, n, pm, p50, p95, rm, r50, r95, refusals, pii_n, pii_count, fb_n) in rows:
            out[start] = {"window_start": start, "n": int(n), "prompt_chars_mean": pm, "prompt_chars_p50": p50,
                          "prompt_chars_p95": p95, "response_chars_mean": rm, "response_chars_p50": r50,
                          "response_chars_p95": r95, "refusals": int(refusals), "pii_responses": int(pii_n),
                          "pii_count": int(pii_count or 0), "feedback_n": int(fb_n), "language_counts": {},
                          "first_tokens": {}, "pii_kinds": {}, "top_response": 0}
        for start, lang, c in con.execute(f"SELECT {w}, language, count(*) FROM traffic WHERE variant = ? "
                                          "GROUP BY ALL", [variant]).fetchall():
            out[start]["language_counts"][lang or "und"] = int(c)
        for start, tok, c in con.execute(f"SELECT {w}, first_token, count(*) FROM traffic WHERE variant = ? "
                                         "GROUP BY ALL", [variant]).fetchall():
            out[start]["first_tokens"][tok or ""] = int(c)
        for start, kind, c in con.execute(f"""
                SELECT w, kind, count(*) FROM (
                    SELECT {w} AS w, unnest(string_split(pii_kinds, ',')) AS kind
                    FROM traffic WHERE variant = ? AND pii_kinds <> '') GROUP BY ALL""", [variant]).fetchall():
            out[start]["pii_kinds"][kind] = int(c)
        for start, top in con.execute(f"""
                SELECT w, max(c) FROM (SELECT {w} AS w, response_key, count(*) AS c FROM traffic
                                       WHERE variant = ? GROUP BY ALL) GROUP BY w""", [variant]).fetchall():
            out[start]["top_response"] = int(top)
    return out


def numeric_sample(store: Store, variant: str, granularity: str, k: int, seed: int) -> pd.DataFrame:
    """(w, prompt_chars, response_chars) of the first ``k`` records of each window in the seeded order."""
    w = _trunc(granularity)
    with store.connect() as con:
        return con.execute(f"""
            SELECT w, prompt_chars, response_chars FROM (
                SELECT {w} AS w, prompt_chars, response_chars,
                       row_number() OVER (PARTITION BY {w} ORDER BY {_order(seed)}) AS rn
                FROM traffic WHERE variant = ?) WHERE rn <= ? ORDER BY w""", [variant, k]).df()


def text_sample(store: Store, variant: str, granularity: str, k: int, seed: int, windows: list) -> list[tuple]:
    """(w, prompt, response) of the first ``k`` records of the given windows in the seeded order."""
    if not windows or k <= 0:
        return []
    w = _trunc(granularity)
    with store.connect() as con:
        return con.execute(f"""
            SELECT s.w, t.prompt, t.response FROM (
                SELECT {w} AS w, record_hash,
                       row_number() OVER (PARTITION BY {w} ORDER BY {_order(seed)}) AS rn
                FROM traffic WHERE variant = ?) s
            JOIN traffic t USING (record_hash)
            WHERE s.rn <= ? AND t.variant = ? AND list_contains(?, s.w) ORDER BY s.w, s.rn""",
                           [variant, k, variant, windows]).fetchall()


def feedback_sample(store: Store, variant: str, granularity: str, k: int, seed: int, texts: bool) -> list[tuple]:
    """(w, ts, feedback[, prompt, response]) of the first ``k`` records with feedback of each window (seeded)."""
    w = _trunc(granularity)
    cols = "t.ts, t.feedback" + (", t.prompt, t.response" if texts else "")
    with store.connect() as con:
        return con.execute(f"""
            SELECT s.w, {cols} FROM (
                SELECT {w} AS w, record_hash,
                       row_number() OVER (PARTITION BY {w} ORDER BY {_order(seed, 'q')}) AS rn
                FROM traffic WHERE variant = ? AND feedback IS NOT NULL) s
            JOIN traffic t USING (record_hash) WHERE s.rn <= ? AND t.variant = ? ORDER BY s.w, s.rn""",
                           [variant, k, variant]).fetchall()


def stored_suite_prompts(store: Store, variant: str, seed: int, k: int) -> list[tuple[str, str]]:
    """(suite, prompt) of up to ``k`` samples (seeded) of the variant's latest run of each suite."""
    from harness.store.runs import LATEST_RUNS_SQL

    with store.connect() as con:
        return con.execute(f"""
            SELECT suite, prompt FROM (
                SELECT l.suite, s.record->>'prompt' AS prompt,
                       row_number() OVER (PARTITION BY l.suite ORDER BY md5(s.doc_id || '{int(seed)}')) AS rn
                FROM ({LATEST_RUNS_SQL}) l JOIN samples s USING (run_id)
                WHERE l.variant = ? AND s.record->>'prompt' IS NOT NULL) WHERE rn <= ? ORDER BY suite, rn""",
                           [variant, k]).fetchall()


def cached_embeddings(store: Store, encoder: str, hashes: list[str]) -> list[tuple[str, list]]:
    with store.connect() as con:
        return con.execute("SELECT text_hash, vector FROM monitor_embeddings WHERE encoder = ? AND "
                           "list_contains(?, text_hash)", [encoder, hashes]).fetchall()


def save_analysis(store: Store, run: MonitorRun, windows: list[MonitorWindow], drift: list[MonitorDrift],
                  quality: list[MonitorQuality], alerts: list[MonitorAlert],
                  embeddings: list[MonitorEmbedding]) -> None:
    """An analysis (and a check's alerts, and the embeddings it computed), in one transaction."""
    with store.connect(write=True) as con:
        insert(con, [run])
        insert(con, windows)
        insert(con, drift, frame=len(drift) > 50)
        insert(con, quality)
        insert(con, alerts)
        insert(con, embeddings, mode="OR IGNORE", frame=True)


# -- dashboard reads -----------------------------------------------------------------------------------
def runs(store: Store) -> pd.DataFrame:
    """Every analysis (``monitor profile`` / ``monitor check``), newest first."""
    return store.query("SELECT run_id, variant, granularity, reference, settings, policy, passed, n_failed, "
                       "created_at FROM monitor_runs ORDER BY created_at DESC, run_id")


def windows(store: Store, run_id: str) -> pd.DataFrame:
    return store.query("SELECT * EXCLUDE (run_id) FROM monitor_windows WHERE run_id = ? "
                       "ORDER BY role DESC, window_start", [run_id])


def drift(store: Store, run_id: str) -> pd.DataFrame:
    return store.query("SELECT * EXCLUDE (run_id) FROM monitor_drift WHERE run_id = ? ORDER BY window_start, feature",
                       [run_id])


def quality(store: Store, run_id: str) -> pd.DataFrame:
    return store.query("SELECT * EXCLUDE (run_id) FROM monitor_quality WHERE run_id = ? ORDER BY window_start",
                       [run_id])


def alerts(store: Store, run_id: str) -> pd.DataFrame:
    return store.query("SELECT rule, label, window_start, status, passed, observed, threshold, p_value, detail "
                       "FROM monitor_alerts WHERE run_id = ? ORDER BY passed, window_start, rule", [run_id])


def traffic_files(store: Store, variant: str) -> pd.DataFrame:
    return store.query("SELECT path, format, n_read, n_added, n_duplicates, n_skipped, ts_min, ts_max, ingested_at "
                       "FROM traffic_files WHERE variant = ? ORDER BY ingested_at", [variant])


def traffic_examples(store: Store, variant: str, start, end, limit: int = 20) -> pd.DataFrame:
    """A few records of a time range (ordered by their hash: a stable, spread-out pick)."""
    return store.query("SELECT ts, prompt, response, language, refusal, feedback FROM traffic "
                       "WHERE variant = ? AND ts >= ? AND ts < ? ORDER BY md5(record_hash) LIMIT ?",
                       [variant, start, end, limit])
