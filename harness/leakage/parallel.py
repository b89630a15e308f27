"""The contamination scan on the local machine's cores: corpus blocks are scanned on ``workers`` threads,
each block's scan state merges in corpus order in this thread, so the rows are those of one thread.

Threads, not processes: the scan's work is Arrow's tokenizer and numpy over whole blocks, which run
without the GIL, so two threads scan 1.9x as fast as one on 2 cores (forked processes got 1.25x: each
faulted in the index's pages again and the blocks and states were pickled across). The index is shared
read-only; each block gets its own state. This thread reads the corpus (the next block is read while
the threads scan) and keeps at most ``2 x workers`` blocks in flight, so memory stays bounded however
long the corpus is. Ctrl-C drops the queued blocks and returns once the running ones end (a block is
2 MB). A corpus of one block, or one worker, scans in this thread.
"""

from __future__ import annotations

import collections
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from harness.corpus import Block
from harness.leakage.index import ContaminationIndex, ScanState

PARALLEL_BLOCK_CHARS = 2 << 20  # smaller blocks than one thread reads, so the threads stay evenly busy


def scan_blocks(index: ContaminationIndex, blocks: Iterable[Block], workers: int,
                progress: Callable[[int], None] | None = None) -> ScanState:
    """``index.scan_blocks(blocks)`` on ``workers`` threads: the same state."""
    it = iter(blocks)
    head = list(itertools.islice(it, 2))
    if len(head) < 2 or workers < 2:
        return index.scan_blocks(itertools.chain(head, it), progress)
    state = index.new_state()

    def merge(part: ScanState) -> None:
        state.merge(part)
        if progress:
            progress(part.stats.documents)

    pending: collections.deque = collections.deque()  # per block in corpus order: its future state
    with ThreadPoolExecutor(workers, thread_name_prefix="medtune-scan") as pool:
        try:
            for block in itertools.chain(head, it):
                while pending and (len(pending) >= 2 * workers or pending[0].done()):
                    merge(pending.popleft().result())
                pending.append(pool.submit(index.scan_blocks, [block]))
            while pending:
                merge(pending.popleft().result())
        except BaseException:  # Ctrl-C or a bad block: the queued blocks are dropped, the running ones end
            for f in pending:
                f.cancel()
            raise
    return state
