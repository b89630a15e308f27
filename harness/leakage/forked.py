"""One call run in a forked process while this one goes on: the other CPU's share of a build.

The function is handed to the child through fork (a module global read after the fork), so nothing
is pickled but its result. Where ``fork`` is missing, or ``use`` is false, ``get`` just runs it here.
"""

from __future__ import annotations

import multiprocessing
from typing import Callable

_TASK: Callable | None = None


def _run():
    return _TASK()


def quiet() -> None:
    """A forked worker's initializer: Ctrl-C is this process's to handle (it stops the workers), so the
    workers ignore it instead of each printing a KeyboardInterrupt traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pool(processes: int):
    """A pool of ``processes`` forked workers that ignore Ctrl-C."""
    return multiprocessing.get_context("fork").Pool(processes, initializer=quiet)


def usable(workers: int) -> bool:
    return workers > 1 and "fork" in multiprocessing.get_all_start_methods()


class Background:
    """``Background(fn, use)``: ``fn()`` starts in a forked process now; ``get()`` returns its result."""

    def __init__(self, fn: Callable, use: bool = True):
        global _TASK
        self.fn, self.pool, self.result = fn, None, None
        if use and usable(2):
            _TASK = fn
            try:
                self.pool = pool(1)
                self.result = self.pool.apply_async(_run)
            finally:
                _TASK = None  # the child has its copy

    def get(self):
        if self.pool is None:
            return self.fn()
        try:
            return self.result.get()
        finally:
            self.pool.close()
            self.pool.join()
