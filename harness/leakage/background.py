"""One call run on a background thread while this one goes on: the other CPU's share of an index build.

The build's work is numpy over whole arrays (sorts, ufuncs), which runs without the GIL, so a thread
gets the second core without a fork: nothing is copied or pickled, and it works wherever Python does
(measured on the shipped suites, 2 CPUs: build 1.5 s with a forked process, 1.1 s with a thread).
The thread is a daemon, so Ctrl-C during a build exits at once. Where ``use`` is false, ``get`` just
runs the call here.
"""

from __future__ import annotations

import threading
from typing import Callable


class Background:
    """``Background(fn, use)``: ``fn()`` starts on a thread now; ``get()`` returns its result (or raises its error)."""

    def __init__(self, fn: Callable, use: bool = True):
        self.fn, self._result, self._error, self._thread = fn, None, None, None
        if use:
            self._thread = threading.Thread(target=self._run, name="medtune-index-build", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self.fn()
        except BaseException as exc:  # handed to get(), in the caller's thread
            self._error = exc

    def wait(self) -> None:
        """Until the call has ended (its result and error dropped): nothing left running behind a failure here."""
        if self._thread is not None:
            self._thread.join()

    def get(self):
        if self._thread is None:
            return self.fn()
        self.wait()
        if self._error is not None:
            raise self._error
        return self._result
