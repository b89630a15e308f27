"""Data-parallel scoring of one suite (native engine) under a launcher (``--processes N``, torchrun,
``accelerate launch``).

Each rank scores a contiguous slice of the documents (``distributed.shard_bounds``: global document
indexes are kept, so few-shot draws and generation seeds are those of a one-process run) with its own
copy of the model on its own device, appending finished chunks to its own partial file
(``<key>.rank<R>of<W>.jsonl``: a killed run resumes per rank when started again with the same number of
processes). The per-sample results are gathered to rank 0 (``torch.distributed.gather_object``), which
computes the metrics over all samples and alone writes the run, in one transaction -- the store keeps
its single writer.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import distributed
from harness.engine import SuiteRun, _append_partial, _read_partial, check_compatible, score_docs


def rank_device(device: str) -> str:
    """``auto``/``cuda`` -> this rank's GPU (``cuda:LOCAL_RANK``); a fixed device or the CPU is kept."""
    from harness.models.hf_load import pick_device

    picked = pick_device(device)
    if distributed.launched() and picked == "cuda":
        return f"cuda:{distributed.local_rank()}"
    return device


def rank_partial(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rank{distributed.rank()}of{distributed.world_size()}{path.suffix}")


def run_sharded(suite, lm, docs: list[dict], partial: Path, chunk_size: int = 32, progress=None,
                seed: int = 0) -> SuiteRun:
    """This rank's share of ``docs``; on rank 0 the whole run (all samples, metrics), elsewhere an empty one.

    Every failure (on any rank, at any step) reaches every rank as the same error: no rank is left waiting."""
    t0 = time.perf_counter()
    start, stop = distributed.shard_bounds(len(docs))
    mine = docs[start:stop]
    path = rank_partial(partial)
    samples, resumed, error, i = [], 0, None, len(mine)
    try:
        check_compatible(suite, lm, docs)
        samples = _read_partial(path, mine)
        resumed = i = len(samples)
    except Exception as exc:  # noqa: BLE001 - reported on every rank below
        error = exc
    # chunks in lock-step: after each, every rank learns whether any rank failed (then all raise the same
    # one line at once, instead of the others waiting in gather_object until the launcher kills them)
    while distributed.step_all(error, error is None and i < len(mine)):
        if error is not None or i >= len(mine):
            continue
        chunk = mine[i:i + chunk_size]
        try:
            new = score_docs(suite, lm, chunk, offset=start + i, progress=progress)
            samples.extend(new)
            _append_partial(path, new, chunk)
        except Exception as exc:  # noqa: BLE001
            error = exc
        i += chunk_size
    parts = distributed.gather((samples, resumed))
    every, metrics, error = [], [], None
    if distributed.is_main():  # the metrics, over every rank's samples
        try:
            every = [s for part, _ in parts for s in part]
            metrics = suite.type.aggregate(every, seed=seed)
        except Exception as exc:  # noqa: BLE001 - the other ranks would wait for rank 0's write
            error = exc
    distributed.all_ok(error)
    if not distributed.is_main():
        return SuiteRun([], [], time.perf_counter() - t0, resumed)
    return SuiteRun(every, metrics, time.perf_counter() - t0, sum(r for _, r in parts))


def drop_partial(partial: Path) -> None:
    """After rank 0 wrote the run: each rank removes its own partial file."""
    rank_partial(partial).unlink(missing_ok=True)
