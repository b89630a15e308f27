"""The built contamination index, cached on disk so repeated audits (CI on every change) skip the build.

Key: a sha256 over the index's settings (n, shingle, threshold, num_perm, seed, min_words, the
boilerplate rule), ``VERSION`` (bumped when the index layout or the hashing changes) and every item's
suite and text in order: a suite's new version, data file or ``process_docs`` changes the texts and
so the key. Value: the index's arrays, bitmaps and LSH tables included, in one uncompressed file under
``<medtune cache>/leakage_index/`` (a JSON table of contents, then each array's bytes 64-byte aligned),
memory-mapped on load so a warm audit reads only the pages it touches. It is written to a temporary
file and renamed; a torn, truncated or foreign file is rebuilt, never trusted. The newest ``KEEP``
entries are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

VERSION = 7
MAGIC = b"MEDTUNE-INDEX\n"
SUFFIX = ".idx"
KEEP = 4


def key(index) -> str:
    h = hashlib.sha256(json.dumps({"version": VERSION, **index.settings_key()}, sort_keys=True).encode())
    h.update("\x00".join([item.suite for item in index.items]).encode())
    h.update(np.asarray(index.of_item, np.int64).tobytes())  # which distinct text each item has
    h.update(b"\x00".join([t.encode() for t in index.texts]))
    return h.hexdigest()[:32]


def folder() -> Path:
    from harness.settings import cache_dir

    return cache_dir() / "leakage_index"


def path_of(index) -> Path:
    return folder() / f"{key(index)}{SUFFIX}"


def load(index) -> dict[str, np.ndarray] | None:
    path = path_of(index)
    try:
        arrays = read(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(arrays.get("lengths", ())) != len(index.texts) or "sigs" not in arrays:
        return None
    os.utime(path)  # recently used: kept by the pruning
    return arrays


def read(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a file ``write`` wrote, memory-mapped (read-only); ValueError if it is not one, or torn."""
    import mmap

    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # stays mapped while arrays refer to it
    head = mm[: len(MAGIC) + 8]
    if not head.startswith(MAGIC):
        raise ValueError(f"{path}: not a medtune index file")
    size = int.from_bytes(head[len(MAGIC):], "little")
    toc = json.loads(mm[len(MAGIC) + 8: len(MAGIC) + 8 + size])
    base = _align(len(MAGIC) + 8 + size)  # the arrays' offsets count from here
    if base + toc.get("data", -1) != len(mm):
        raise ValueError(f"{path}: torn ({len(mm)} of {base + toc.get('data', -1)} bytes)")
    out = {}
    for name, (dtype, shape, offset) in toc["arrays"].items():
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        out[name] = np.frombuffer(mm, dt, count, base + offset).reshape(shape)  # plain arrays over the mapping
    return out


def _align(n: int) -> int:
    return -(-n // 64) * 64


def write(fh, arrays: dict[str, np.ndarray]) -> None:
    """MAGIC, the table of contents' length and the table (JSON: each array's dtype, shape and offset
    from the first 64-byte boundary after it), then each array's bytes, 64-byte aligned."""
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    toc, offset = {}, 0
    for name, a in arrays.items():
        toc[name] = [a.dtype.str, list(a.shape), offset]
        offset += _align(a.nbytes)
    body = json.dumps({"arrays": toc, "data": offset}).encode()
    head = MAGIC + len(body).to_bytes(8, "little") + body
    fh.write(head + b"\0" * (_align(len(head)) - len(head)))
    for a in arrays.values():
        fh.write(memoryview(a).cast("B") if a.nbytes else b"")
        fh.write(b"\0" * (_align(a.nbytes) - a.nbytes))


def save(index, arrays: dict[str, np.ndarray]) -> None:
    try:
        where = folder()
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh, arrays)
        os.replace(tmp, path_of(index))
        entries = sorted(where.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:] + list(where.glob("*.npz")):  # .npz: the layout before VERSION 3
            old.unlink(missing_ok=True)
    except OSError:  # a read-only or full cache: the audit works without it
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
