"""The contamination scan on the local machine's cores: corpus blocks go to forked worker processes,
each block's scan state comes back and merges in corpus order, so the rows are those of one process.

The index is built (or loaded) once, before the fork: workers share it copy-on-write, nothing is
pickled but the blocks (a few MB of text each) and their states (a few hundred kB). ``workers - 1``
processes are forked; this one hands them blocks while they have fewer than two each and scans the
next block itself otherwise, so a slow block anywhere does not leave a core idle. At most ``4 x workers`` blocks are in flight, so memory stays bounded however long the corpus is. A corpus of one
block, one worker, or a platform without ``fork`` scans in this process.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
from multiprocessing.pool import AsyncResult
from typing import Callable, Iterable

from harness.corpus import Block
from harness.leakage import forked
from harness.leakage.forked import usable
from harness.leakage.index import ContaminationIndex, ScanState

PARALLEL_BLOCK_CHARS = 1 << 20  # smaller blocks than one process reads, so the workers stay evenly busy

_INDEX: ContaminationIndex | None = None  # the index, as the forked workers inherit it


def _scan(block: Block) -> ScanState:
    return _INDEX.scan_blocks([block])


def _get(part) -> ScanState:
    return part if isinstance(part, ScanState) else part.get()


def scan_blocks(index: ContaminationIndex, blocks: Iterable[Block], workers: int,
                progress: Callable[[int], None] | None = None) -> ScanState:
    """``index.scan_blocks(blocks)`` on ``workers`` processes: the same state."""
    global _INDEX
    it = iter(blocks)
    head = list(itertools.islice(it, 2))
    if len(head) < 2 or not usable(workers):
        return index.scan_blocks(itertools.chain(head, it), progress)
    state = index.new_state()

    def merge(part: ScanState) -> None:
        before = state.stats.documents
        state.merge(part)
        if progress:
            progress(state.stats.documents - before)

    _INDEX = index
    try:
        with forked.pool(workers - 1) as pool:
            pending: collections.deque = collections.deque()  # per block in corpus order: a state or a task
            for block in itertools.chain(head, it):
                busy = sum(isinstance(p, AsyncResult) and not p.ready() for p in pending)
                if busy < 2 * (workers - 1):  # the forked workers take blocks while they have room ...
                    pending.append(pool.apply_async(_scan, (block,)))
                else:  # ... and this process scans the next one itself meanwhile
                    pending.append(index.scan_blocks([block]))
                while pending and (len(pending) > 4 * workers or not isinstance(pending[0], AsyncResult)
                                   or pending[0].ready()):
                    merge(_get(pending.popleft()))
            while pending:
                merge(_get(pending.popleft()))
    finally:
        _INDEX = None
    return state
