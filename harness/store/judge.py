"""The rubric judge's tables (migration 012): ``judge_cache``, verdicts by (judge, prompt version, criterion,
response); ``judge_agreement``, ``medtune judge check``'s results."""

from __future__ import annotations


def lookup(store, judge_id: str, version: str, items) -> dict[tuple[str, str], tuple[bool, str]]:
    """(criterion_sha, response_sha) -> (met, reason) for the items already graded by this judge and prompt."""
    if not items:
        return {}
    import pandas as pd

    keys = pd.DataFrame({"criterion_sha": [i.criterion_sha for i in items],
                         "response_sha": [i.response_sha for i in items]}).drop_duplicates()
    with store.connect() as con:
        con.register("wanted", keys)
        rows = con.execute("SELECT c.criterion_sha, c.response_sha, c.met, c.reason FROM judge_cache c "
                           "JOIN wanted w USING (criterion_sha, response_sha) "
                           "WHERE c.judge_id = ? AND c.prompt_version = ?", [judge_id, version]).fetchall()
    return {(c, r): (bool(met), reason or "") for c, r, met, reason in rows}


def save(store, judge_id: str, version: str, graded) -> None:
    """Cache parsed verdicts (one short transaction); a key already there keeps its first verdict."""
    rows = {(i.criterion_sha, i.response_sha): (judge_id, version, i.criterion_sha, i.response_sha, bool(v.met), v.reason)
            for i, v in graded if v.met is not None}
    if not rows:
        return
    with store.connect(write=True) as con:
        con.executemany("INSERT INTO judge_cache (judge_id, prompt_version, criterion_sha, response_sha, met, reason) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", list(rows.values()))


def cached_count(store, judge_id: str | None = None) -> int:
    sql = "SELECT count(*) FROM judge_cache" + (" WHERE judge_id = ?" if judge_id else "")
    with store.connect() as con:
        return int(con.execute(sql, [judge_id] if judge_id else []).fetchone()[0])


def save_agreement(store, row: list) -> None:
    """One ``medtune judge check`` result, in the column order below (one transaction)."""
    with store.connect(write=True) as con:
        con.execute("INSERT INTO judge_agreement (check_id, judge_id, prompt_version, labels_path, labels_sha256, n, "
                    "n_failed, macro_f1, macro_f1_low, macro_f1_high, kappa, kappa_low, kappa_high, accuracy) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


def latest_agreement(store):
    """The latest check of each (judge, prompt version, labels file): a DataFrame."""
    return store.query("SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY judge_id, prompt_version, "
                       "labels_sha256 ORDER BY created_at DESC) AS rn FROM judge_agreement) WHERE rn = 1 "
                       "ORDER BY judge_id, created_at DESC")
