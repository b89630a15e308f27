"""The built contamination index, cached on disk so repeated audits (CI on every change) skip the build.

Key: a sha256 over the index's settings (n, shingle, threshold, num_perm, seed, min_words, the
boilerplate rule), ``VERSION`` (bumped when the index layout or the hashing changes) and every item's
suite and text in order: a suite's new version, data file or ``process_docs`` changes the texts and
so the key. Value: the index's arrays in one uncompressed ``.npz`` under
``<medtune cache>/leakage_index/``, written to a temporary file and renamed (a torn or unreadable
file is rebuilt, never trusted). The newest ``KEEP`` entries are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

VERSION = 2
KEEP = 4


def key(index) -> str:
    h = hashlib.sha256(json.dumps({"version": VERSION, **index.settings_key()}, sort_keys=True).encode())
    for item in index.items:
        h.update(item.suite.encode())
        h.update(b"\x00")
        h.update(item.text.encode())
        h.update(b"\x01")
    return h.hexdigest()[:32]


def folder() -> Path:
    from harness.settings import cache_dir

    return cache_dir() / "leakage_index"


def path_of(index) -> Path:
    return folder() / f"{key(index)}.npz"


def load(index) -> dict[str, np.ndarray] | None:
    path = path_of(index)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if len(arrays.get("lengths", ())) != len(index.texts) or "sigs" not in arrays:
        return None
    os.utime(path)  # recently used: kept by the pruning
    return arrays


def save(index, arrays: dict[str, np.ndarray]) -> None:
    try:
        where = folder()
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path_of(index))
        entries = sorted(where.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only or full cache: the audit works without it
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
