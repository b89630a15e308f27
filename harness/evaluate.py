"""Score one variant on several suites, reusing cached runs, resuming interrupted ones.

Everything that can be wrong with the input (settings, suite names, options, data files, the
model name, the results DB) is checked before a model is loaded, and nothing reaches the DB
until a run is complete.

The cache key of a run holds the suite version, the settings and a content hash of every data
file the suite reads, so an edited data file is scored again. Identical evals running at once
compute the run once: each suite's run is computed under a per-key file lock, and the writer
checks the key again inside its DB transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from harness.errors import MedtuneError
from harness.settings import cache_dir
from harness.store import Store
from harness.store.runs import find_run, run_key, write_run_once

ENGINES = ("native", "lm-eval")


def check_settings(*, limit=None, num_fewshot=None, batch_size="auto", device="auto", dtype="auto",
                   engine="native") -> int | str:
    """Validate evaluation settings (CLI and Python API alike); returns the batch size (int or "auto")."""
    from harness.models.hf_load import check_device, check_dtype

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise MedtuneError(f"--limit {limit}: must be an integer >= 1 (leave it out to score every document)")
    if num_fewshot is not None and (isinstance(num_fewshot, bool) or not isinstance(num_fewshot, int) or num_fewshot < 0):
        raise MedtuneError(f"--num-fewshot {num_fewshot}: must be an integer >= 0")
    if engine not in ENGINES:
        raise MedtuneError(f"--engine {engine}: expected native or lm-eval")
    if batch_size != "auto":
        text = str(batch_size).strip()
        if isinstance(batch_size, bool) or not text.isdigit() or int(text) < 1:
            raise MedtuneError(f"--batch-size {batch_size}: expected a positive integer or auto")
        batch_size = int(text)
    check_dtype(dtype)
    check_device(device)
    return batch_size


@dataclass
class EvalRequest:
    variant: str
    suites: list[str]
    data_root: Path
    store: Store
    limit: int | None = None
    num_fewshot: int | None = None
    seed: int = 1234
    options: dict[str, Any] | None = None
    engine: str = "native"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | str = "auto"
    force: bool = False
    name: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self):
        self.batch_size = check_settings(limit=self.limit, num_fewshot=self.num_fewshot, batch_size=self.batch_size,
                                         device=self.device, dtype=self.dtype, engine=self.engine)


@dataclass
class Planned:
    suite: Any
    docs: list[dict]
    key: str
    settings: dict
    cached: dict | None


def expand_suite_names(names: list[str]) -> list[str]:
    """Suite names, a family name (e.g. ``medical_qa``), ``all``, suite files or folders, ``lmeval:TASK``."""
    from suites import resolve_suite_names

    return resolve_suite_names(names)


def plan(req: EvalRequest, ref) -> list[Planned]:
    from suites import load_suite

    req.store.check()  # a foreign DB file is refused before any work
    names = expand_suite_names(req.suites)
    options = req.options or {}
    suites = []
    for name in names:
        probe = load_suite(name)
        suites.append(load_suite(name, {k: v for k, v in options.items() if k in probe.spec.options},
                                 num_fewshot=req.num_fewshot, seed=req.seed))
    unused = set(options) - {k for s in suites for k in s.spec.options}
    if unused:
        raise MedtuneError(f"--option {sorted(unused)[0]}: no selected suite has that option")
    planned = []
    for suite in suites:
        docs = suite.docs(req.data_root, req.limit)
        settings = {**suite.settings(), "limit": req.limit, "n_docs": len(docs), "dtype": req.dtype,
                    "data_sha256": data_hash(suite, req.data_root)}
        key = run_key(ref.name, ref.location, suite.name, suite.version, settings, req.engine)
        cached = None if req.force else find_run(req.store, key)
        planned.append(Planned(suite, docs, key, settings, cached))
    return planned


def partial_path(key: str) -> Path:
    return cache_dir() / "partial" / f"{key}.jsonl"


@contextlib.contextmanager
def key_lock(key: str) -> Iterator[bool]:
    """Exclusive lock on one run key across processes; yields whether another process held it first."""
    path = cache_dir() / "partial" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            fcntl.flock(f, fcntl.LOCK_EX)
            waited = True
        try:
            yield waited
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_planned(req: EvalRequest, ref, planned: list[Planned], progress=None, echo=print) -> list[str]:
    """Run the non-cached suites; returns the run ids written."""
    from harness.models import load

    todo = [p for p in planned if p.cached is None]
    for p in planned:
        if p.cached:
            echo(f"cached: {ref.name} on {p.suite.name} (run {p.cached['run_id']}); --force to re-run")
    if not todo:
        return []
    # with --force, runs older than this call are not reused; without it, any run with the key is
    since = datetime.now(timezone.utc).replace(tzinfo=None) if req.force else datetime(1970, 1, 1)
    lm = None
    run_ids = []
    for p in todo:
        with key_lock(p.key):
            done = find_run(req.store, p.key, since=since)  # an identical eval may have finished meanwhile
            if done:
                echo(f"cached (written by a concurrent run): {ref.name} on {p.suite.name} (run {done['run_id']})")
                continue
            if lm is None:
                lm = load(ref, device=req.device, dtype=req.dtype, batch_size=req.batch_size)
            run_id = _run_one(req, ref, p, lm, since, progress, echo)
            if run_id:
                run_ids.append(run_id)
    return run_ids


def _run_one(req: EvalRequest, ref, p: Planned, lm, since: datetime, progress, echo) -> str | None:
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    total = sum(len(p.suite.type.requests(i, d)) for i, d in enumerate(p.docs))
    advance = progress(f"{ref.name} · {p.suite.name}", total) if progress else None
    if req.engine == "lm-eval":
        from harness.lmeval_bridge import run_with_lmeval

        result = run_with_lmeval(p.suite, lm, p.docs, seed=req.seed, progress=advance)
    else:
        from harness.engine import run_suite

        result = run_suite(p.suite, lm, p.docs, partial_path=partial_path(p.key), progress=advance, seed=req.seed)
        if result.resumed:
            echo(f"resumed {p.suite.name}: {result.resumed} samples recovered from an interrupted run")
    settings = {**p.settings, "batch_size": lm.batch_size, "device": lm.device}
    run_id, written = write_run_once(req.store, key=p.key, variant=ref.name, model_info=lm.info, suite=p.suite,
                                     engine=req.engine, settings=settings, samples=result.samples,
                                     metrics=result.metrics, started_at=started, duration_s=result.duration_s,
                                     reuse_since=since)
    partial_path(p.key).unlink(missing_ok=True)
    if not written:
        echo(f"cached (written by a concurrent run): {ref.name} on {p.suite.name} (run {run_id})")
        return None
    return run_id


def suite_data_files(suite, data_root: Path) -> list[Path]:
    """Every file the suite reads for the documents it scores (a folder: all its files, sorted)."""
    data = suite.spec.data
    relative = [data.path, *data.extra.values()]
    if suite.num_fewshot and data.fewshot_path:
        relative.append(data.fewshot_path)
    files = []
    for rel in relative:
        path = Path(data_root) / rel
        if path.is_dir():
            files.extend(sorted(f for f in path.rglob("*") if f.is_file()))
        elif path.exists():
            files.append(path)
    return files


def data_hash(suite, data_root: Path) -> str:
    """Content hash of the suite's data files (names relative to the data root, and contents)."""
    h = hashlib.sha256()
    for path in suite_data_files(suite, data_root):
        try:
            name = path.relative_to(data_root).as_posix()
        except ValueError:
            name = path.as_posix()
        h.update(f"{name}\0{cached_sha256(path)}\n".encode())
    return h.hexdigest()[:16]


_HASHES: dict[tuple, str] = {}
RACY_S = 2.0  # a file modified this recently may change again within the same mtime: not cached on disk


def cached_sha256(path: Path) -> str:
    """``file_sha256``, cached per (path, size, mtime) in memory and under ``<cache>/hashes``."""
    path = Path(path).resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo in _HASHES:
        return _HASHES[memo]
    entry = cache_dir() / "hashes" / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"
    try:
        saved = json.loads(entry.read_text())
        if [saved["path"], saved["size"], saved["mtime_ns"]] == list(memo):
            _HASHES[memo] = saved["sha256"]
            return saved["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = file_sha256(path)
    if time.time() - st.st_mtime_ns / 1e9 > RACY_S:
        _HASHES[memo] = digest
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"path": memo[0], "size": memo[1], "mtime_ns": memo[2], "sha256": digest}))
        os.replace(tmp, entry)
    return digest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
