"""Run one suite against one backend: documents -> requests -> batched calls -> samples -> metrics.

Work is done in chunks of documents. Each finished chunk's samples are appended to a partial
file (``<cache>/partial/<run_key>.jsonl``), so an interrupted run resumes where it stopped; the
DB receives the run only when it is complete, in one transaction (see ``harness.store.runs``).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.errors import MedtuneError
from harness.results import Metric, Sample


@dataclass
class SuiteRun:
    samples: list[Sample]
    metrics: list[Metric]
    duration_s: float
    resumed: int = 0  # samples recovered from an interrupted earlier attempt
    timings: dict = field(default_factory=dict)


def check_compatible(suite, lm, docs: list[dict] | None = None) -> None:
    """The backend answers the suite's request kinds, and (where the type checks it) its label set fits."""
    missing = [k for k in suite.type.request_kinds if not lm.supports(k)]
    if missing or lm.info.kind not in suite.type.model_kinds:
        raise MedtuneError(
            f"suite {suite.name} needs a {'/'.join(suite.type.model_kinds)} model answering {', '.join(suite.type.request_kinds)}; "
            f"{lm.info.name} is a {lm.info.kind} model"
        )
    check_model = getattr(suite.type, "check_model", None)
    if check_model is not None and docs is not None:
        check_model(lm, docs)


def score_docs(suite, lm, docs: list[dict], offset: int = 0, progress: Callable[[int], None] | None = None) -> list[Sample]:
    """Score a list of documents with one batched backend call per request kind."""
    requests = []
    for i, doc in enumerate(docs):
        requests.extend(suite.type.requests(offset + i, doc))
    by_kind = defaultdict(list)
    for req in requests:
        by_kind[req.kind].append(req)
    per_doc: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for kind, reqs in by_kind.items():
        responses = getattr(lm, kind)(reqs, progress=progress)
        for req, resp in sorted(zip(reqs, responses), key=lambda rr: (rr[0].doc_index, rr[0].index)):
            per_doc[req.doc_index][kind].append(resp)
    return [suite.type.score(doc, per_doc[offset + i]) for i, doc in enumerate(docs)]


def run_suite(suite, lm, docs: list[dict], partial_path: Path | None = None, chunk_size: int = 32,
              progress: Callable[[int], None] | None = None, seed: int = 0) -> SuiteRun:
    check_compatible(suite, lm, docs)
    t0 = time.perf_counter()
    done = _read_partial(partial_path, docs) if partial_path else []
    resumed = len(done)
    if progress and resumed:
        progress(sum(len(suite.type.requests(i, d)) for i, d in enumerate(docs[:resumed])))
    samples = list(done)
    for start in range(resumed, len(docs), chunk_size):
        chunk = docs[start:start + chunk_size]
        new = score_docs(suite, lm, chunk, offset=start, progress=progress)
        samples.extend(new)
        if partial_path:
            _append_partial(partial_path, new)
    metrics = suite.type.aggregate(samples, seed=seed)
    return SuiteRun(samples, metrics, time.perf_counter() - t0, resumed)


def _read_partial(path: Path, docs: list[dict]) -> list[Sample]:
    if not path.exists():
        return []
    samples = []
    with open(path) as f:
        for line in f:
            try:
                samples.append(Sample(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                break  # a line cut by the interruption: redo from there
    expected = [str(d["id"]) for d in docs[: len(samples)]]
    if [s.doc_id for s in samples] != expected:
        return []  # documents changed since: start over
    return samples


def _append_partial(path: Path, samples: list[Sample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for s in samples:
            f.write(json.dumps(s.to_dict(), default=str) + "\n")
        f.flush()
