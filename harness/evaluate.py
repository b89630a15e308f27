"""Score one variant on several suites, reusing cached runs, resuming interrupted ones.

Everything that can be wrong with the input (suite names, options, data files, the model
name) is checked before a model is loaded, and nothing reaches the DB until a run is complete.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import MedtuneError
from harness.settings import cache_dir
from harness.store import Store
from harness.store.runs import find_run, run_key, write_run


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


@dataclass
class Planned:
    suite: Any
    docs: list[dict]
    key: str
    settings: dict
    cached: dict | None


def expand_suite_names(names: list[str]) -> list[str]:
    """Suite names, or a family name (e.g. ``medical_qa``), or ``all``."""
    from suites import list_suites, load_suite

    out = []
    for name in names:
        if name in list_suites():
            out.append(name)
            continue
        family = [s for s in list_suites() if name == "all" or load_suite(s).spec.family == name]
        if not family:
            raise MedtuneError(f"unknown suite {name!r}; known suites: {', '.join(list_suites())} (or a family, or all)")
        out.extend(family)
    return list(dict.fromkeys(out))


def plan(req: EvalRequest, ref) -> list[Planned]:
    from suites import load_suite

    if req.engine not in ("native", "lm-eval"):
        raise MedtuneError(f"--engine {req.engine}: expected native or lm-eval")
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
        settings = {**suite.settings(), "limit": req.limit, "n_docs": len(docs), "dtype": req.dtype}
        key = run_key(ref.name, ref.location, suite.name, suite.version, settings, req.engine)
        cached = None if req.force else find_run(req.store, key)
        planned.append(Planned(suite, docs, key, settings, cached))
    return planned


def partial_path(key: str) -> Path:
    return cache_dir() / "partial" / f"{key}.jsonl"


def run_planned(req: EvalRequest, ref, planned: list[Planned], progress=None, echo=print) -> list[str]:
    """Run the non-cached suites; returns the run ids written."""
    from harness.engine import run_suite
    from harness.models import load

    todo = [p for p in planned if p.cached is None]
    for p in planned:
        if p.cached:
            echo(f"cached: {ref.name} on {p.suite.name} (run {p.cached['run_id']}); --force to re-run")
    if not todo:
        return []
    lm = load(ref, device=req.device, dtype=req.dtype, batch_size=req.batch_size)
    run_ids = []
    for p in todo:
        started = datetime.now(timezone.utc).replace(tzinfo=None)
        total = sum(len(p.suite.type.requests(i, d)) for i, d in enumerate(p.docs))
        advance = progress(f"{ref.name} · {p.suite.name}", total) if progress else None
        if req.engine == "lm-eval":
            from harness.lmeval_bridge import run_with_lmeval

            result = run_with_lmeval(p.suite, lm, p.docs, seed=req.seed, progress=advance)
        else:
            from harness.engine import run_suite

            ppath = partial_path(p.key)
            result = run_suite(p.suite, lm, p.docs, partial_path=ppath, progress=advance, seed=req.seed)
            if result.resumed:
                echo(f"resumed {p.suite.name}: {result.resumed} samples recovered from an interrupted run")
        settings = {**p.settings, "batch_size": lm.batch_size, "device": lm.device}
        run_ids.append(write_run(req.store, key=p.key, variant=ref.name, model_info=lm.info, suite=p.suite,
                                 engine=req.engine, settings=settings, samples=result.samples, metrics=result.metrics,
                                 started_at=started, duration_s=result.duration_s))
        partial_path(p.key).unlink(missing_ok=True)
    return run_ids


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
