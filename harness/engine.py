"""Run one suite against one backend: documents -> requests -> batched calls -> samples -> metrics.

Work is done in chunks of documents. Each finished chunk's samples are appended to a partial
file (``<cache>/partial/<run_key>.jsonl``; the run key holds the data files' hash), so an
interrupted run resumes where it stopped; the DB receives the run only when it is complete, in
one transaction (see ``harness.store.runs``). Each line records a hash of its document's content:
a partial file whose documents changed since is discarded, and a line cut by the interruption is
cut off the file before new lines are appended.
"""

from __future__ import annotations

import hashlib
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


def _article(word: str) -> str:
    return "an" if str(word)[:1].lower() in "aeiou" else "a"


def check_compatible(suite, lm, docs: list[dict] | None = None) -> None:
    """The backend answers the suite's request kinds, and (where the type checks it) its label set fits."""
    missing = [k for k in suite.type.request_kinds if not lm.supports(k)]
    lm_kinds = getattr(lm, "model_kinds", (lm.info.kind,))  # a backend may answer for several kinds (mock)
    if missing or not set(lm_kinds) & set(suite.type.model_kinds):
        needed = "/".join(suite.type.model_kinds)
        raise MedtuneError(
            f"suite {suite.name} needs {_article(needed)} {needed} model answering {', '.join(suite.type.request_kinds)}; "
            f"{lm.info.name} is {_article(lm.info.kind)} {lm.info.kind} model"
        )
    if hasattr(suite, "chat"):  # option chat_template: the model's chat template (one-line error if it has none)
        from suites._chat import bind

        bind(suite, lm)
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
    judge = getattr(suite.type, "judge_docs", None)  # a rubric suite grades the whole chunk at once (concurrently)
    if judge is not None:
        judge([(doc, per_doc[offset + i]) for i, doc in enumerate(docs)])
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
            _append_partial(partial_path, new, chunk)
    metrics = suite.type.aggregate(samples, seed=seed)
    return SuiteRun(samples, metrics, time.perf_counter() - t0, resumed)


DOC_HASH = "_doc_sha256"  # the key, in a partial file's line, of its document's content hash


def doc_digest(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_partial(path: Path, docs: list[dict]) -> list[Sample]:
    """The samples of an interrupted run, if they are of these very documents (else the file is dropped)."""
    if not path.exists():
        return []
    samples, good_bytes = [], 0
    with open(path, "rb") as f:
        for line in f:
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("cut line")
                row = json.loads(line)
                digest = row.pop(DOC_HASH)
                sample = Sample(**row)
            except (ValueError, TypeError, KeyError, AttributeError):
                break  # a line cut by the interruption (or an older format): redo from there
            i = len(samples)
            if i >= len(docs) or sample.doc_id != str(docs[i]["id"]) or digest != doc_digest(docs[i]):
                path.unlink(missing_ok=True)  # documents changed since: start over
                return []
            samples.append(sample)
            good_bytes += len(line)
    if good_bytes < path.stat().st_size:
        with open(path, "r+b") as f:  # new lines go after the last whole one
            f.truncate(good_bytes)
    return samples


def _append_partial(path: Path, samples: list[Sample], docs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for s, doc in zip(samples, docs):
            f.write(json.dumps({**s.to_dict(), DOC_HASH: doc_digest(doc)}, default=str) + "\n")
        f.flush()
