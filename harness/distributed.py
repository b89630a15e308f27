"""Running one medtune command as several processes (data parallel), on accelerate and torch.distributed.

medtune does not schedule anything itself: a run is started by ``accelerate launch``, ``torchrun``, a
SLURM ``srun`` of either, or by ``--processes N`` (which calls torch.distributed.run for you). Those set
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``; this module reads them and wraps the few collectives medtune
needs:

- ``on_main(fn)``: rank 0 alone does ``fn`` (a DB write, an output-folder check) and every rank gets its
  result -- or raises the same error, so a refusal on rank 0 never leaves the other ranks waiting;
- ``gather(obj)``: per-rank results to rank 0 (``torch.distributed.gather_object``);
- ``shard_bounds(n)``: the contiguous slice of n documents a rank scores;
- ``map_slices(fn, items)``: each rank runs ``fn`` on its slice, every rank gets the whole result in order
  (the audits' scoring loops); an error on any rank reaches all.

The process group is accelerate's ``PartialState`` (gloo on CPU, NCCL on CUDA). Nothing here imports
torch unless a run is actually distributed.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, TypeVar

from harness.errors import MedtuneError

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def launched() -> bool:
    """Started by a launcher with more than one process."""
    return world_size() > 1


def is_main() -> bool:
    return rank() == 0


def init(cpu: bool | None = None):
    """The process group (accelerate's PartialState; a no-op state in a single process). ``cpu``: gloo
    even where CUDA is present (default: CPU when no CUDA device is visible)."""
    from accelerate import PartialState

    if cpu is None:
        import torch

        cpu = not torch.cuda.is_available()
    return PartialState(cpu=cpu)


def _group_ready() -> bool:
    if not launched():
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        init()
    return True


def barrier() -> None:
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every rank."""
    if not _group_ready():
        return obj
    import torch.distributed as dist

    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj) -> list | None:
    """Every rank's ``obj``, in rank order, on rank 0 (None on the other ranks)."""
    if not _group_ready():
        return [obj]
    import torch.distributed as dist

    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def all_ok(error: BaseException | None) -> None:
    """A collective check: if any rank failed, every rank raises (the failing rank its own error)."""
    if not _group_ready():
        if error is not None:
            raise error
        return
    import torch.distributed as dist

    flags = [None] * world_size()
    dist.all_gather_object(flags, None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    failed = [(r, f) for r, f in enumerate(flags) if f]
    if failed:
        r, msg = failed[0]
        raise MedtuneError(f"rank {r} failed: {msg}")


def on_main(fn: Callable[[], T]) -> T:
    """``fn()`` on rank 0 only; its result (or its error, re-raised as the same type) on every rank."""
    if not _group_ready():
        return fn()
    result, error = None, None
    if is_main():
        try:
            result = fn()
        except Exception as exc:  # sent to the other ranks, then re-raised here unchanged
            error = exc
    status = broadcast(None if error is None else (type(error), str(error)))
    if error is not None:
        raise error
    if status is not None:
        kind, msg = status
        raise (kind(msg) if issubclass(kind, MedtuneError) and kind.__init__ is MedtuneError.__init__
               else MedtuneError(msg))
    return broadcast(result)


def shard_bounds(n: int) -> tuple[int, int]:
    """This rank's contiguous slice ``[start, stop)`` of ``n`` items (sizes differ by at most one), so
    items keep their global index (few-shot sampling and generation seeds depend on it) and the
    rank-ordered concatenation of the slices is the whole list."""
    w, r = world_size(), rank()
    if w <= 1:
        return 0, n
    base, extra = divmod(n, w)
    start = r * base + min(r, extra)
    return start, start + base + (1 if r < extra else 0)


def map_slices(fn: Callable[[list], list], items) -> list:
    """``fn`` (a list -> a list of as many results) on this rank's contiguous slice of ``items``; every rank
    gets the rank-ordered concatenation, i.e. ``fn(items)`` as one process computes it. If ``fn`` fails on
    any rank, every rank raises (the failing one its own error) and nobody waits on a collective."""
    items = list(items)
    if not _group_ready():
        return list(fn(items))
    import torch.distributed as dist

    start, stop = shard_bounds(len(items))
    part, error = None, None
    try:
        part = list(fn(items[start:stop])) if stop > start else []
        if len(part) != stop - start:
            raise MedtuneError(f"map_slices: {len(part)} results for {stop - start} items")
    except Exception as exc:
        error = exc
    all_ok(error)
    parts = [None] * world_size()
    dist.all_gather_object(parts, part)
    return [x for p in parts for x in p]


# -- launching ---------------------------------------------------------------------------------
PROCESSES_ENV = "MEDTUNE_LAUNCHED"


def relaunch(processes: int, argv: list[str] | None = None) -> int:
    """Run this medtune command again as ``processes`` local processes (torch.distributed.run, the engine
    behind torchrun and accelerate launch) and return the exit code of the group. ``--processes`` is
    dropped from the children's command line; gloo on CPU, NCCL where CUDA is visible."""
    if processes < 1:
        raise MedtuneError(f"--processes {processes}: expected 1 or more")
    if launched():
        raise MedtuneError("--processes: this command already runs under a launcher (torchrun / accelerate "
                           "launch); drop --processes")
    from torch.distributed.run import get_args_parser, run

    args = drop_processes_flag(list(sys.argv[1:] if argv is None else argv))
    env = {PROCESSES_ENV: "1"}
    os.environ.update(env)
    parsed = get_args_parser().parse_args(["--nnodes", "1", "--nproc-per-node", str(processes), "--standalone",
                                           "--no-python", sys.executable, "-m", "medtune", *args])
    try:
        run(parsed)
    except Exception as exc:  # torch's ChildFailedError: the children printed their own errors
        code = _child_exit_code(exc)
        return code if code else 1
    return 0


def _child_exit_code(exc: Exception) -> int | None:
    failures = getattr(exc, "failures", None) or {}
    codes = [getattr(f, "exitcode", None) for f in failures.values()]
    codes = [c for c in codes if isinstance(c, int) and c > 0]
    return min(codes) if codes else None


def drop_processes_flag(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--processes":
            skip = True
            continue
        if a.startswith("--processes="):
            continue
        out.append(a)
    return out
