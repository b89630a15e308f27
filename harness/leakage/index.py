"""The contamination index: suite items on one side (small), training text streamed past it.

Two tests per item, as in GPT-3 / lm-eval decontamination plus near-duplicate detection:

- **n-gram overlap**: the share of the item's normalised word n-grams (13 by default) that occur
  anywhere in the training text. An item shorter than n words counts as one n-gram of its own
  length (GPT-3's rule for short items). N-grams are hashed to 64-bit integers (stable word
  hashes, a polynomial rolling hash), so the suite side is a sorted numpy array and every chunk
  of training text is matched with one ``searchsorted``.
- **near duplicates**: MinHash (datasketch) over word k-shingles with an LSH index of the items.
  A training document is sketched only if enough of its shingles occur in the items at all (a
  necessary condition for Jaccard >= t is that a t share of the document's shingles occur in
  some item), which skips almost all of a large corpus cheaply.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import numpy as np

from harness.leakage.text import Document, normalize

_PRIME = np.uint64(1099511628211)
RETRIEVE = 0.6  # LSH retrieval threshold, as a share of the flagging threshold


class WordHasher:
    """Stable 64-bit word hashes (blake2b), cached per distinct word."""

    def __init__(self):
        self.cache: dict[str, int] = {}

    def __call__(self, ws: list[str]) -> np.ndarray:
        cache = self.cache
        for w in set(ws).difference(cache):
            cache[w] = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        return np.fromiter(map(cache.__getitem__, ws), dtype=np.uint64, count=len(ws))


def gram_hashes(wh: np.ndarray, lengths: Iterable[int]) -> dict[int, np.ndarray]:
    """Rolling hashes of every m-gram of ``wh`` for each m in ``lengths`` (one incremental sweep)."""
    want, out = set(lengths), {}
    h = wh.copy()
    for m in range(1, max(want, default=0) + 1):
        if m > 1:
            h = h[:-1] * _PRIME + wh[m - 1:]
        if m in want:
            out[m] = h
    return out


def _member(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_keys, values).clip(max=len(sorted_keys) - 1)
    return sorted_keys[pos] == values


@dataclass
class Item:
    suite: str
    doc_id: str
    text: str


@dataclass
class ItemResult:
    ngram_overlap: float = 0.0
    near_dup_jaccard: float = 0.0
    ngram_source: str | None = None
    near_source: str | None = None


@dataclass
class ScanStats:
    documents: int = 0
    bytes: int = 0
    sketched: int = 0
    seconds: float = 0.0


class _Batch:
    """Many texts hashed at once: word hashes, the owner of each word, m-gram hashes."""

    def __init__(self, hasher: WordHasher, texts: list[str], lengths_wanted: set[int]):
        all_words: list[str] = []
        self.lengths = np.zeros(len(texts), dtype=np.int64)
        for d, text in enumerate(texts):
            ws = normalize(text).split()
            all_words.extend(ws)
            self.lengths[d] = len(ws)
        self.n_words = len(all_words)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.owner = np.repeat(np.arange(len(texts)), self.lengths)
        self.grams = gram_hashes(hasher(all_words), lengths_wanted) if all_words else {}

    def valid(self, m: int) -> np.ndarray:
        """Positions whose m-gram lies inside one text."""
        h = self.grams[m]
        return self.owner[: len(h)] == self.owner[m - 1:]


class ContaminationIndex:
    def __init__(self, items: list[Item], n: int = 13, shingle: int = 3, threshold: float = 0.5,
                 num_perm: int = 128, seed: int = 1):
        from datasketch import MinHash, MinHashLSH

        self.items, self.n, self.shingle, self.threshold = items, n, shingle, threshold
        self.hasher = WordHasher()
        self._proto = MinHash(num_perm=num_perm, seed=seed)
        # suites share items (pubmedqa / pubmedqa_noabstract): index each distinct text once
        first: dict[str, int] = {}
        self.of_item = [first.setdefault(it.text, len(first)) for it in items]
        self.texts = list(first)
        batch = _Batch(self.hasher, self.texts, set(range(1, n + 1)) | {shingle})
        self.item_grams: list[tuple[int, np.ndarray]] = []
        keys: dict[int, list[np.ndarray]] = {}
        for i, (start, length) in enumerate(zip(batch.starts, batch.lengths)):
            m = int(min(n, length))
            g = np.unique(batch.grams[m][start:start + length - m + 1]) if m else np.zeros(0, np.uint64)
            self.item_grams.append((m, g))
            keys.setdefault(m, []).append(g)
        self.keys = {m: np.unique(np.concatenate(v)) for m, v in keys.items() if m}
        sh32, owner = self._shingles(batch)
        self.shingle_keys = np.unique(sh32)
        self.signatures = self.minhash_signatures(sh32, owner, len(self.texts))
        # retrieve candidates well below the flagging threshold, so lightly edited copies still get a
        # Jaccard estimate (and rank above clean items) even when they fall just short of it
        self.lsh = MinHashLSH(threshold=RETRIEVE * threshold, num_perm=num_perm)
        has = np.bincount(owner, minlength=len(self.texts)) > 0
        with self.lsh.insertion_session() as session:
            for i in np.flatnonzero(has):
                session.insert(int(i), self._minhash(self.signatures[i]), check_duplication=False)

    def _shingles(self, batch: _Batch) -> tuple[np.ndarray, np.ndarray]:
        if self.shingle not in batch.grams:
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        valid = batch.valid(self.shingle)
        sh = batch.grams[self.shingle][valid] >> np.uint64(32)
        return sh.astype(np.uint32), batch.owner[: len(valid)][valid]

    def minhash_signatures(self, sh32: np.ndarray, owner: np.ndarray, n_docs: int, rows: int = 32768) -> np.ndarray:
        """datasketch affine32 MinHash signatures of many shingle sets at once (``owner`` sorted).

        Bit-identical to ``MinHash.update_batch`` with an identity hashfunc (a test checks it);
        vectorised because building thousands of sketches one by one dominates the index time.
        """
        from datasketch.minhash import _fmix

        a, b = self._proto.permutations
        sig = np.full((n_docs, len(a)), np.iinfo(np.uint32).max, dtype=np.uint32)
        for lo in range(0, len(sh32), rows):
            hv = _fmix(sh32[lo:lo + rows].astype(np.uint32), 32)
            phv = hv[:, None] * a[None, :] + b[None, :]
            own = owner[lo:lo + rows]
            firsts = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
            mins = np.minimum.reduceat(phv, firsts, axis=0)
            docs = own[firsts]
            sig[docs] = np.minimum(sig[docs], mins)
        return sig

    def _minhash(self, signature: np.ndarray):
        from datasketch import MinHash

        return MinHash(hashvalues=signature, permutations=self._proto.permutations, scheme=self._proto.scheme,
                       seed=self._proto.seed)

    def _query(self, signature: np.ndarray) -> list[tuple[int, float]]:
        found = self.lsh.query(self._minhash(signature))
        return [(j, float(np.mean(self.signatures[j] == signature))) for j in found]

    def near_duplicates(self, texts: list[str]) -> list[list[tuple[int, float]]]:
        """For each text: (index into ``self.texts``, estimated Jaccard) of the items LSH finds near it."""
        batch = _Batch(self.hasher, texts, {self.shingle})
        sh32, owner = self._shingles(batch)
        sigs = self.minhash_signatures(sh32, owner, len(texts))
        has = np.bincount(owner, minlength=len(texts)) > 0
        return [self._query(sigs[d]) if has[d] else [] for d in range(len(texts))]

    # -- scanning training text ------------------------------------------------------------
    def scan(self, documents: Iterable[Document], chunk_docs: int = 20000,
             progress: Callable[[int], None] | None = None) -> tuple[list[ItemResult], ScanStats]:
        t0 = time.perf_counter()
        found: dict[int, dict[int, str]] = {m: {} for m in self.keys}
        results = [ItemResult() for _ in self.texts]
        stats = ScanStats()
        chunk: list[Document] = []
        for doc in documents:
            chunk.append(doc)
            if len(chunk) >= chunk_docs:
                self._scan_chunk(chunk, found, results, stats, progress)
                chunk = []
        if chunk:
            self._scan_chunk(chunk, found, results, stats, progress)
        for res, (m, grams) in zip(results, self.item_grams):
            table = found.get(m, {})
            hits = [h for h in grams.tolist() if h in table] if m else []
            if hits:
                res.ngram_overlap = len(hits) / len(grams)
                res.ngram_source = table[hits[0]]
        stats.seconds = time.perf_counter() - t0
        return [replace(results[u]) for u in self.of_item], stats

    def _scan_chunk(self, docs: list[Document], found, results: list[ItemResult], stats: ScanStats, progress) -> None:
        texts = [d.text for d in docs]
        stats.documents += len(docs)
        stats.bytes += sum(len(t.encode()) for t in texts)
        batch = _Batch(self.hasher, texts, set(self.keys) | {self.shingle})
        for m, keys in self.keys.items():
            if m not in batch.grams:
                continue
            h = batch.grams[m]
            for pos in np.flatnonzero(_member(keys, h) & batch.valid(m)):
                found[m].setdefault(int(h[pos]), docs[batch.owner[pos]].source)
        self._near_chunk(docs, batch, results, stats)
        if progress:
            progress(len(docs))

    def _near_chunk(self, docs: list[Document], batch: _Batch, results: list[ItemResult], stats: ScanStats) -> None:
        sh32, owner = self._shingles(batch)
        if not len(sh32):
            return
        total = np.bincount(owner, minlength=len(docs))
        shared = np.bincount(owner[_member(self.shingle_keys, sh32)], minlength=len(docs))
        # Jaccard >= t needs a t share of the document's shingles inside the items
        keep = (total > 0) & (shared >= RETRIEVE * self.threshold * np.maximum(total, 1))
        candidates = np.flatnonzero(keep)
        if not len(candidates):
            return
        rows = keep[owner]
        remap = np.full(len(docs), -1)
        remap[candidates] = np.arange(len(candidates))
        sigs = self.minhash_signatures(sh32[rows], remap[owner[rows]], len(candidates))
        stats.sketched += len(candidates)
        for c, d in enumerate(candidates):
            for j, jac in self._query(sigs[c]):
                if jac > results[j].near_dup_jaccard:
                    results[j].near_dup_jaccard = jac
                    results[j].near_source = docs[d].source
