"""Typed records: one dataclass per kind of row, its fields named exactly as the table's columns.

Every write goes through ``insert``, which names each column (``INSERT INTO t (a, b) VALUES (?, ?)``),
so a migration that adds or reorders columns never shifts a value into the wrong column.
JSON columns are marked with ``json_field`` (Python values in, Python values out); columns with a
database default (``created_at``) are marked with ``auto_field`` and left to the database when None.
``tests/harness/test_store_records.py`` checks that every table has a record with its columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Iterable, Mapping, Sequence, TypeVar

import pandas as pd


def json_field(default: Any = None) -> Any:
    return field(default=default, metadata={"json": True})


def auto_field() -> Any:
    return field(default=None, metadata={"auto": True})


@dataclass
class Record:
    TABLE: ClassVar[str] = ""

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]):
        """A record from a mapping with (at least) its columns; JSON text is decoded, NaN/NaT become None."""
        values = {}
        for f in fields(cls):
            value = row.get(f.name)
            if _missing(value):
                value = None
            elif f.metadata.get("json") and isinstance(value, str):
                value = json.loads(value)
            elif isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            values[f.name] = value
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


R = TypeVar("R", bound=Record)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT


def _to_db(f, value: Any) -> Any:
    """A JSON column takes a Python value (serialised here) or text that already is JSON."""
    if f.metadata.get("json") and value is not None and not isinstance(value, str):
        return json.dumps(value, default=str, sort_keys=True)
    return value


def insert(con, records: Iterable[Record], *, mode: str = "", frame: bool = False) -> int:
    """Insert records of one kind with named columns; ``mode`` is '' | 'OR REPLACE' | 'OR IGNORE'.

    ``frame=True`` sends the rows as one DataFrame (fast for thousands of rows; a None/NaN in a
    numeric column is stored as NULL); otherwise one parameterised statement per row.
    Returns the number of rows given.
    """
    records = list(records)
    if not records:
        return 0
    cls = type(records[0])
    if any(type(r) is not cls for r in records):
        raise TypeError("insert() takes records of one kind")
    # columns with a database default are left out when None (grouped so each batch is uniform)
    groups: dict[tuple[str, ...], list[Record]] = {}
    for r in records:
        skip = tuple(f.name for f in fields(cls) if f.metadata.get("auto") and getattr(r, f.name) is None)
        groups.setdefault(skip, []).append(r)
    for skip, batch in groups.items():
        cols = [f for f in fields(cls) if f.name not in skip]
        names = ", ".join(f.name for f in cols)
        rows = [[_to_db(f, getattr(r, f.name)) for f in cols] for r in batch]
        if frame:
            df = pd.DataFrame(rows, columns=[f.name for f in cols])
            con.register("_medtune_insert_df", df)
            try:
                con.execute(f"INSERT {mode} INTO {cls.TABLE} ({names}) SELECT {names} FROM _medtune_insert_df")
            finally:
                con.unregister("_medtune_insert_df")
        else:
            marks = ", ".join("?" for _ in cols)
            con.executemany(f"INSERT {mode} INTO {cls.TABLE} ({names}) VALUES ({marks})", rows)
    return len(records)


def select(con, cls: type[R], where: str = "", params: Sequence[Any] = (), order: str = "") -> list[R]:
    """Records of ``cls`` matching ``where`` (an SQL condition over its columns)."""
    sql = f"SELECT {', '.join(cls.columns())} FROM {cls.TABLE}"
    if where:
        sql += f" WHERE {where}"
    if order:
        sql += f" ORDER BY {order}"
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [cls.from_row(dict(zip(names, row))) for row in cur.fetchall()]


# -- core: variants, suites, runs, metrics, samples ----------------------------------------------
@dataclass
class VariantRecord(Record):
    TABLE: ClassVar[str] = "variants"
    name: str
    path: str | None = None
    parent: str | None = None
    base: str | None = None
    method: str | None = None
    kind: str | None = None
    lineage: dict | None = json_field()
    created_at: datetime | None = auto_field()


@dataclass
class SuiteRecord(Record):
    TABLE: ClassVar[str] = "suites"
    name: str
    version_hash: str
    family: str | None = None
    type: str | None = None
    spec: dict | None = json_field()
    created_at: datetime | None = auto_field()


@dataclass
class RunRecord(Record):
    TABLE: ClassVar[str] = "runs"
    run_id: str
    run_key: str
    variant: str
    suite: str
    suite_hash: str
    engine: str
    settings: dict | None = json_field()
    model: dict | None = json_field()
    code_version: str | None = None
    machine: dict | None = json_field()
    n_samples: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    samples_per_s: float | None = None
    protocol_id: str | None = None  # 010: short hash of settings['protocol']
    protocol: str | None = None  # 010: its short label


@dataclass
class MetricRow(Record):
    TABLE: ClassVar[str] = "metrics"
    run_id: str
    metric: str
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    higher_is_better: bool | None = None  # 009; NULL in older rows: the suite type's declaration decides


@dataclass
class SampleRow(Record):
    TABLE: ClassVar[str] = "samples"
    run_id: str
    sample_idx: int
    doc_id: str
    target: str | None = None
    prediction: str | None = None
    correct: bool | None = None
    score: float | None = None
    scores: dict | None = json_field()
    record: dict | None = json_field()


# -- tuning ---------------------------------------------------------------------------------------
@dataclass
class TrainingCurvePoint(Record):
    TABLE: ClassVar[str] = "training_curves"
    variant: str
    step: int
    epoch: float | None = None
    train_loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    tokens_seen: int | None = None
    logged_at: datetime | None = None


# -- forgetting -----------------------------------------------------------------------------------
@dataclass
class ForgettingRow(Record):
    TABLE: ClassVar[str] = "forgetting"
    variant: str
    reference: str
    reference_role: str
    suite: str
    family: str | None
    metric: str
    higher_is_better: bool | None = None
    variant_value: float | None = None
    reference_value: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    test: str | None = None
    n: int | None = None
    variant_run: str | None = None
    reference_run: str | None = None
    computed_at: datetime | None = auto_field()


@dataclass
class ForgettingSummaryRow(Record):
    TABLE: ClassVar[str] = "forgetting_summary"
    variant: str
    reference: str
    reference_role: str
    forgetting_index: float | None = None
    fi_ci_low: float | None = None
    fi_ci_high: float | None = None
    fi_tasks: list | None = json_field()
    domain_gain: float | None = None
    dg_ci_low: float | None = None
    dg_ci_high: float | None = None
    dg_suites: list | None = json_field()
    computed_at: datetime | None = auto_field()


# -- leakage --------------------------------------------------------------------------------------
@dataclass
class LeakageAudit(Record):
    TABLE: ClassVar[str] = "leakage_audits"
    audit_id: str
    variant: str
    created_at: datetime | None = auto_field()
    settings: dict | None = json_field()
    summary: dict | None = json_field()


@dataclass
class LeakageItem(Record):
    TABLE: ClassVar[str] = "leakage_items"
    audit_id: str
    suite: str
    doc_id: str
    ngram_overlap: float | None = None
    near_dup_jaccard: float | None = None
    contaminated: bool | None = None
    matched_source: str | None = None


@dataclass
class LeakageCleanMetric(Record):
    TABLE: ClassVar[str] = "leakage_clean_metrics"
    audit_id: str
    suite: str
    run_id: str | None
    metric: str
    full_value: float | None = None
    full_n: int | None = None
    clean_value: float | None = None
    clean_n: int | None = None
    clean_ci_low: float | None = None
    clean_ci_high: float | None = None


@dataclass
class SplitOverlap(Record):
    TABLE: ClassVar[str] = "split_overlap"
    audit_id: str
    suite: str
    split_a: str
    split_b: str
    n_a: int | None = None
    n_b: int | None = None
    exact: int | None = None
    near: int | None = None


@dataclass
class MembershipInference(Record):
    TABLE: ClassVar[str] = "membership_inference"
    audit_id: str
    method: str
    auroc: float | None = None
    n_members: int | None = None
    n_nonmembers: int | None = None
    k: float | None = None
    members_source: str | None = None
    nonmembers_source: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass
class CanaryExposure(Record):
    TABLE: ClassVar[str] = "canary_exposure"
    audit_id: str
    canary_id: str
    repetitions: int | None = None
    exposure: float | None = None
    rank: int | None = None
    candidates: int | None = None
    reproduced: bool | None = None
    secret_field: str | None = None
    generation: str | None = None


@dataclass
class PiiFinding(Record):
    TABLE: ClassVar[str] = "pii_findings"
    audit_id: str
    source: str
    kind: str
    value: str | None = None
    known: bool | None = None


# -- gate -----------------------------------------------------------------------------------------
@dataclass
class GateRun(Record):
    TABLE: ClassVar[str] = "gate_runs"
    gate_id: str
    candidate: str
    baseline: str | None
    policy: dict | None = json_field()
    passed: bool = False
    n_failed: int | None = None
    code_version: str | None = None
    created_at: datetime | None = auto_field()


@dataclass
class GateResult(Record):
    TABLE: ClassVar[str] = "gate_results"
    gate_id: str
    rule: str
    suite: str | None
    status: str
    passed: bool
    observed: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    detail: str | None = None


# -- robustness -----------------------------------------------------------------------------------
@dataclass
class RobustnessAudit(Record):
    TABLE: ClassVar[str] = "robustness_audits"
    audit_id: str
    variant: str
    suite: str
    suite_type: str | None = None
    metric: str | None = None
    clean_value: float | None = None
    n: int | None = None
    settings: dict | None = json_field()
    report_path: str | None = None
    giskard_issues: list | None = json_field()
    n_issues: int | None = None
    code_version: str | None = None
    duration_s: float | None = None
    created_at: datetime | None = auto_field()


@dataclass
class RobustnessPerturbation(Record):
    TABLE: ClassVar[str] = "robustness_perturbations"
    audit_id: str
    perturbation: str
    metric: str
    clean_value: float | None = None
    perturbed_value: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    flip_rate: float | None = None
    n: int | None = None
    p_value: float | None = None
    flagged: bool | None = None


RECORDS: tuple[type[Record], ...] = (
    VariantRecord, SuiteRecord, RunRecord, MetricRow, SampleRow, TrainingCurvePoint, ForgettingRow,
    ForgettingSummaryRow, LeakageAudit, LeakageItem, LeakageCleanMetric, SplitOverlap, MembershipInference,
    CanaryExposure, PiiFinding, GateRun, GateResult, RobustnessAudit, RobustnessPerturbation,
)


# -- monitoring (migration 011) -------------------------------------------------------------------
@dataclass
class TrafficFile(Record):
    TABLE: ClassVar[str] = "traffic_files"
    variant: str
    file_sha256: str
    path: str | None = None
    format: str | None = None
    mapping: dict | None = json_field()
    n_read: int | None = None
    n_added: int | None = None
    n_duplicates: int | None = None
    n_skipped: int | None = None
    skipped: list | None = json_field()
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    ingested_at: datetime | None = auto_field()


@dataclass
class TrafficRow(Record):
    """A served request (written in bulk from a staged Parquet file, harness/monitor/ingest.py)."""
    TABLE: ClassVar[str] = "traffic"
    variant: str
    record_hash: str
    file_sha256: str
    line: int | None = None
    ts: datetime | None = None
    model: str | None = None
    prompt: str | None = None
    response: str | None = None
    feedback: float | None = None
    prompt_chars: int | None = None
    response_chars: int | None = None
    prompt_words: int | None = None
    response_words: int | None = None
    language: str | None = None
    refusal: bool | None = None
    pii_kinds: str | None = None
    pii_count: int | None = None
    response_key: int | None = None
    first_token: str | None = None


@dataclass
class MonitorEmbedding(Record):
    TABLE: ClassVar[str] = "monitor_embeddings"
    text_hash: str
    encoder: str
    vector: list | None = None


@dataclass
class MonitorRun(Record):
    TABLE: ClassVar[str] = "monitor_runs"
    run_id: str
    variant: str
    granularity: str
    reference: str | None = None
    settings: dict | None = json_field()
    policy: dict | None = json_field()
    passed: bool | None = None
    n_failed: int | None = None
    code_version: str | None = None
    created_at: datetime | None = auto_field()


@dataclass
class MonitorWindow(Record):
    TABLE: ClassVar[str] = "monitor_windows"
    run_id: str
    role: str
    window_start: datetime | None = None
    n: int | None = None
    prompt_chars_mean: float | None = None
    prompt_chars_p50: float | None = None
    prompt_chars_p95: float | None = None
    response_chars_mean: float | None = None
    response_chars_p50: float | None = None
    response_chars_p95: float | None = None
    languages: dict | None = json_field()
    refusal_rate: float | None = None
    pii_rate: float | None = None
    pii_count: int | None = None
    pii_kinds: dict | None = json_field()
    top_response_share: float | None = None
    top_first_token: str | None = None
    top_first_token_share: float | None = None
    feedback_n: int | None = None
    embedded: int | None = None
    prompt_embedding: list | None = json_field()
    response_embedding: list | None = json_field()
    embedding_stats: dict | None = json_field()
    nearest_suites: list | None = json_field()
    examples: list | None = json_field()


@dataclass
class MonitorDrift(Record):
    TABLE: ClassVar[str] = "monitor_drift"
    run_id: str
    window_start: datetime
    feature: str
    kind: str | None = None
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    effect_name: str | None = None
    effect: float | None = None
    threshold: float | None = None
    drifted: bool | None = None
    n_window: int | None = None
    n_reference: int | None = None


@dataclass
class MonitorQuality(Record):
    TABLE: ClassVar[str] = "monitor_quality"
    run_id: str
    window_start: datetime
    grader: str | None = None
    n: int | None = None
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    reference_value: float | None = None
    reference_n: int | None = None
    reference_source: str | None = None
    delta: float | None = None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None


@dataclass
class MonitorAlert(Record):
    TABLE: ClassVar[str] = "monitor_alerts"
    run_id: str
    rule: str
    label: str | None = None
    window_start: datetime | None = None
    status: str = "pass"
    passed: bool = True
    observed: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    detail: str | None = None


RECORDS += (TrafficFile, TrafficRow, MonitorEmbedding, MonitorRun, MonitorWindow, MonitorDrift, MonitorQuality,
            MonitorAlert)


# -- rubric judge (migration 012) ------------------------------------------------------------------
@dataclass
class JudgeVerdict(Record):
    TABLE: ClassVar[str] = "judge_cache"
    judge_id: str
    prompt_version: str
    criterion_sha: str
    response_sha: str
    met: bool
    reason: str | None = None
    created_at: datetime | None = auto_field()


@dataclass
class JudgeAgreement(Record):
    TABLE: ClassVar[str] = "judge_agreement"
    check_id: str
    judge_id: str
    prompt_version: str
    labels_path: str | None = None
    labels_sha256: str | None = None
    n: int | None = None
    n_failed: int | None = None
    macro_f1: float | None = None
    macro_f1_low: float | None = None
    macro_f1_high: float | None = None
    kappa: float | None = None
    kappa_low: float | None = None
    kappa_high: float | None = None
    accuracy: float | None = None
    created_at: datetime | None = auto_field()


RECORDS += (JudgeVerdict, JudgeAgreement)
