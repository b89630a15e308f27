"""The contamination scan beyond one process: map tasks over corpus files on a dask.distributed cluster.

The suite index (n-gram tables, bitmaps, shingle keys) is built once on the client and broadcast to
every worker (``Client.scatter(..., broadcast=True)``); each task scans one corpus file into a
``ScanState`` (gram hash -> first source, each item's best near-duplicate so far, the item shingles seen in
candidate documents: its size depends on the items, not on the file), and the client merges
the states in file order and scores the items, so the rows are the same as one process scanning the
files one after another. Shards are files: a corpus in one huge file is one task (split it first,
e.g. ``split -l``). Workers read the files themselves, so on a real cluster (``--scheduler
tcp://host:8786``) the paths must be visible to every worker (a shared or object file system).

Why dask.distributed and not Ray: it is pure Python (no raylet / plasma store binaries, a few MB
installed), a ``LocalCluster`` starts in about a second in-process for tests, and a scheduler plus
``dask worker tcp://...`` on each node is the whole deployment.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

from harness import corpus
from harness.errors import MedtuneError
from harness.leakage.index import ContaminationIndex, ItemResult, ScanState, ScanStats


def _scan_file(index: ContaminationIndex, path: str, text_field: str) -> ScanState:
    return index.scan_blocks(corpus.file_blocks(Path(path), text_field))


def dask_scan(index: ContaminationIndex, local: Iterable[corpus.Block], specs: list[str], text_field: str = "text",
              scheduler: str | None = None, workers: int | None = None,
              processes: bool = False) -> tuple[list[ItemResult], ScanStats]:
    """Scan ``local`` blocks here and the files of ``specs`` as one dask task each; merge in order."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a dependency
        raise MedtuneError("--engine dask needs the dask and distributed packages (pip install dask distributed)") from None

    t0 = time.perf_counter()
    files = [str(p) for p in corpus.expand(specs)] if specs else []
    state = index.scan_blocks(local)
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise MedtuneError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    else:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        if files:
            shared = client.scatter(index, broadcast=True)
            futures = [client.submit(_scan_file, shared, f, text_field, pure=False) for f in files]
            for part in client.gather(futures):  # in file order
                state.merge(part)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    results = index.finish(state)
    state.stats.seconds = time.perf_counter() - t0
    return results, state.stats
