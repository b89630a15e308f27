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
import signal
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
    """A collective check: if any rank failed, every rank raises (the failing rank its own error, the others
    the same line: a MedtuneError's own message, else ``rank R failed: Type: message``). Errors raised this
    way are marked ``shared``: under ``--processes`` only rank 0 prints them."""
    if not _group_ready():
        if error is not None:
            raise error
        return
    import torch.distributed as dist

    flags = [None] * world_size()
    mine = None if error is None else (isinstance(error, MedtuneError), f"{type(error).__name__}: {error}", str(error))
    dist.all_gather_object(flags, mine)
    failed = [(r, f) for r, f in enumerate(flags) if f]
    if not failed:
        return
    if error is not None:
        _mark_shared(error)
        raise error
    r, (medtune, described, message) = failed[0]
    raise _mark_shared(MedtuneError(message if medtune else f"rank {r} failed: {described}"))


def step_all(error: BaseException | None, busy: bool) -> bool:
    """One lock-step of a loop every rank runs (e.g. a chunk of documents each): raises on every rank as
    ``all_ok`` does if any rank failed in this step, else returns whether any rank has work left. Ranks
    with different amounts of work keep stepping until all are done, so a failure anywhere stops every
    rank within one step instead of leaving the others waiting in a later collective."""
    if not _group_ready():
        if error is not None:
            raise error
        return busy
    import torch.distributed as dist

    flags = [None] * world_size()
    mine = (None if error is None else (isinstance(error, MedtuneError), f"{type(error).__name__}: {error}", str(error)),
            bool(busy))
    dist.all_gather_object(flags, mine)
    failed = [(r, f) for r, (f, _) in enumerate(flags) if f]
    if failed:
        if error is not None:
            raise _mark_shared(error)
        r, (medtune, described, message) = failed[0]
        raise _mark_shared(MedtuneError(message if medtune else f"rank {r} failed: {described}"))
    return any(b for _, b in flags)


def _mark_shared(error: BaseException) -> BaseException:
    try:
        error.shared = True  # every rank raises it: one line is enough (harness.cli.main)
    except AttributeError:
        pass
    return error


def child_of_processes() -> bool:
    """One of the processes ``--processes N`` started (its launcher is the medtune command the user ran)."""
    return launched() and bool(os.environ.get(PROCESSES_ENV))


def prints_errors() -> bool:
    """Whether this process prints an error every rank raised: yes, except ranks > 0 started by
    ``--processes`` (their launcher's terminal shows rank 0's line)."""
    return is_main() or not child_of_processes()


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
        raise _mark_shared(error)
    if status is not None:
        kind, msg = status
        raise _mark_shared(kind(msg) if issubclass(kind, MedtuneError) and kind.__init__ is MedtuneError.__init__
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
PROCESSES_ENV = "MEDTUNE_LAUNCHED"  # set by --processes to the launcher's pid


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_processes(processes) -> None:
    """``--processes N``: an integer >= 1, and (N > 1) at most one process a GPU where CUDA is visible, else
    at most one a CPU (64 processes on 2 cores start, thrash, and finish nothing)."""
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise MedtuneError(f"--processes {processes}: expected an integer >= 1 (1: this process alone)")
    if processes == 1:
        return
    if launched():
        raise MedtuneError("--processes: this command already runs under a launcher (torchrun / accelerate "
                           "launch); drop --processes")
    import torch

    if torch.cuda.is_available():
        gpus = torch.cuda.device_count()
        if processes > gpus:
            raise MedtuneError(f"--processes {processes}: {gpus} GPU(s) visible, one process each: use --processes "
                               f"{gpus} or fewer")
    elif processes > cpu_count():
        raise MedtuneError(f"--processes {processes}: this machine gives this command {cpu_count()} CPU(s) and no "
                           f"GPU; more processes than CPUs only thrash: use --processes {cpu_count()} or fewer")


def relaunch(processes: int, argv: list[str] | None = None) -> int:
    """Run this medtune command again as ``processes`` local processes (torch.distributed.run, the engine
    behind torchrun and accelerate launch) and return the exit code of the group. ``--processes`` is
    dropped from the children's command line; gloo on CPU, NCCL where CUDA is visible. The children die
    with this process (``bind_to_launcher``); Ctrl-C stops them all and returns 130."""
    check_processes(processes)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import get_args_parser, run

    args = drop_processes_flag(list(sys.argv[1:] if argv is None else argv))
    before = os.environ.get(PROCESSES_ENV)
    os.environ[PROCESSES_ENV] = str(os.getpid())  # the children inherit it (and die with this process)
    parsed = get_args_parser().parse_args(["--nnodes", "1", "--nproc-per-node", str(processes), "--standalone",
                                           "--no-python", sys.executable, "-m", "medtune", *args])
    _quiet_elastic_logs()
    try:
        run(parsed)
    except (KeyboardInterrupt, SignalException) as exc:  # Ctrl-C: the agent passed it on to the children
        if isinstance(exc, SignalException) and exc.sigval not in (signal.SIGINT,):
            return 128 + int(exc.sigval)
        return 130
    except Exception as exc:  # torch's ChildFailedError: the children printed their own errors
        code = _child_exit_code(exc)
        if code:
            return code
        if getattr(exc, "failures", None):  # every child killed by a signal: nothing printed a line
            return 1
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MedtuneError(f"--processes {processes}: the processes could not be started ({first})") from None
    finally:
        if before is None:
            os.environ.pop(PROCESSES_ENV, None)
        else:
            os.environ[PROCESSES_ENV] = before
    return 0


def _quiet_elastic_logs() -> None:
    """torch.distributed.elastic logs every worker failure at length (a report with a traceback box): the
    children print their own one-line errors."""
    import logging

    import torch.distributed.elastic.agent.server.api  # noqa: F401 - their loggers exist once imported
    import torch.distributed.elastic.multiprocessing.api  # noqa: F401
    import torch.distributed.launcher.api  # noqa: F401

    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("torch.distributed.elastic", "torch.distributed.run", "torch.distributed.launcher")):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def bind_to_launcher() -> None:
    """In a child of ``--processes``: die with the launcher (Linux ``PR_SET_PDEATHSIG``), so killing it never
    leaves workers running as orphans. A no-op elsewhere."""
    launcher = os.environ.get(PROCESSES_ENV, "")
    if not launcher.isdigit() or not launched():
        return
    if os.getppid() != int(launcher):  # a variable left over from elsewhere, or the launcher is gone already
        try:
            os.kill(int(launcher), 0)
        except ProcessLookupError:
            os._exit(1)
        except OSError:
            pass
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the launcher's own teardown is all there is
        return
    if os.getppid() != int(launcher):  # the launcher died just before the line above
        os._exit(1)


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
