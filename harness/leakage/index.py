"""The contamination index: suite items on one side (small), training text streamed past it.

Two tests per item, as in GPT-3 / lm-eval decontamination plus near-duplicate detection:

- **n-gram overlap**: the share of the item's normalised word n-grams (13 by default) that occur
  anywhere in the training text. An item shorter than n words counts as one n-gram of its own
  length (GPT-3's rule for short items). N-grams are hashed to 64-bit integers (stable word
  hashes, a polynomial rolling hash), so the suite side is a sorted numpy array and every chunk
  of training text is matched with one ``searchsorted``.
- **near duplicates**: MinHash (datasketch) over word k-shingles, matched through a MinHashLSH.
  Jaccard >= t needs a t share of a document's shingles to occur in the item, so a training
  document is sketched only if that share of its shingles occurs in *some* item; and the LSH is
  built, after the scan, only over items with that share of their shingles in *some* sketched
  document. Both filters are exact necessary conditions and skip almost all of the work.
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


class KeySet:
    """A sorted array of 64-bit keys with a 2^26-entry bitmap in front: most lookups stop at the bitmap."""

    BITS = 26

    def __init__(self, keys: np.ndarray):
        self.keys = np.unique(keys)
        self.bitmap = np.zeros(1 << self.BITS, dtype=bool)
        self.bitmap[(self.keys & np.uint64((1 << self.BITS) - 1)).astype(np.int64)] = True

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(len(values), dtype=bool)
        if not len(self.keys) or not len(values):
            return out
        maybe = np.flatnonzero(self.bitmap[(values & np.uint64((1 << self.BITS) - 1)).astype(np.int64)])
        pos = np.searchsorted(self.keys, values[maybe]).clip(max=len(self.keys) - 1)
        out[maybe] = self.keys[pos] == values[maybe]
        return out


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

    SEP = "\x00"  # a word no normalised text contains: marks where one text ends

    def __init__(self, hasher: WordHasher, texts: list[str], lengths_wanted: set[int]):
        # one translate + split for the whole batch (per-text calls cost more than the hashing)
        wh = hasher(normalize(f" {self.SEP} ".join(texts)).split())
        is_sep = wh == hasher([self.SEP])[0]
        bounds = np.concatenate([[-1], np.flatnonzero(is_sep), [len(wh)]])
        self.lengths = (np.diff(bounds) - 1).astype(np.int64)
        wh = wh[~is_sep]
        self.n_words = len(wh)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.owner = np.repeat(np.arange(len(texts)), self.lengths)
        self.grams = gram_hashes(wh, lengths_wanted) if len(wh) else {}

    def valid(self, m: int) -> np.ndarray:
        """Positions whose m-gram lies inside one text."""
        h = self.grams[m]
        return self.owner[: len(h)] == self.owner[m - 1:]


class ContaminationIndex:
    def __init__(self, items: list[Item], n: int = 13, shingle: int = 3, threshold: float = 0.5,
                 num_perm: int = 64, seed: int = 1, min_words: int = 8):
        from datasketch import MinHash

        self.items, self.n, self.shingle, self.threshold, self.min_words = items, n, shingle, threshold, min_words
        self.num_perm = num_perm
        self.hasher = WordHasher()
        self._proto = MinHash(num_perm=num_perm, seed=seed)
        # suites share items (pubmedqa / pubmedqa_noabstract): index each distinct text once
        first: dict[str, int] = {}
        self.of_item = [first.setdefault(it.text, len(first)) for it in items]
        self.texts = list(first)
        batch = _Batch(self.hasher, self.texts, set(range(1, n + 1)) | {shingle})
        # each item's n-grams, or (shorter than n) the whole item as one m-gram: (owner, hash) per m
        m_of = np.minimum(n, batch.lengths)
        self.item_grams: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for m in np.unique(m_of[m_of > 0]).tolist():
            h = batch.grams[m]
            pos = np.flatnonzero(batch.valid(m) & (m_of[batch.owner[: len(h)]] == m))
            self.item_grams[m] = (batch.owner[pos], h[pos])
        self.keys = {m: KeySet(g) for m, (_, g) in self.item_grams.items()}
        self.item_sh32, self.item_owner = self._shingles(batch)
        self.shingle_keys = KeySet(self.item_sh32.astype(np.uint64))
        self.signatures = self.minhash_signatures(self.item_sh32, self.item_owner, len(self.texts))

    def _shingles(self, batch: _Batch) -> tuple[np.ndarray, np.ndarray]:
        if self.shingle not in batch.grams:
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        valid = batch.valid(self.shingle)
        sh = batch.grams[self.shingle][valid] >> np.uint64(32)
        return sh.astype(np.uint32), batch.owner[: len(valid)][valid]

    def _plausible(self, sh32: np.ndarray, owner: np.ndarray, n_docs: int, keys: KeySet) -> np.ndarray:
        """Documents with at least RETRIEVE * threshold of their shingles in ``keys``."""
        total = np.bincount(owner, minlength=n_docs)
        shared = np.bincount(owner[keys.contains(sh32.astype(np.uint64))], minlength=n_docs)
        return (total > 0) & (shared >= RETRIEVE * self.threshold * np.maximum(total, 1))

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
        from datasketch import LeanMinHash

        return LeanMinHash(seed=self._proto.seed, hashvalues=signature, scheme=self._proto.scheme)

    def _match(self, sigs: np.ndarray, shingles: np.ndarray) -> list[list[tuple[int, float]]]:
        """For each signature: (text index, estimated Jaccard) of the items the LSH retrieves.

        The LSH holds only items with enough of their shingles among ``shingles`` (the queries'),
        at a retrieval threshold below the flagging one, so lightly edited copies that fall just
        short of it still get a Jaccard estimate (and rank above clean items).
        """
        from datasketch import MinHashLSH

        if not len(sigs):
            return []
        items = np.flatnonzero(self._plausible(self.item_sh32, self.item_owner, len(self.texts),
                                               KeySet(shingles.astype(np.uint64))))
        lsh = MinHashLSH(threshold=RETRIEVE * self.threshold, num_perm=self.num_perm)
        with lsh.insertion_session() as session:
            for i in items:
                session.insert(int(i), self._minhash(self.signatures[i]), check_duplication=False)
        return [[(j, float(np.mean(self.signatures[j] == sig))) for j in lsh.query(self._minhash(sig))]
                for sig in sigs]

    def near_duplicates(self, texts: list[str]) -> list[list[tuple[int, float]]]:
        """For each text: (index into ``self.texts``, estimated Jaccard) of the items LSH finds near it."""
        batch = _Batch(self.hasher, texts, {self.shingle})
        sh32, owner = self._shingles(batch)
        has = np.bincount(owner, minlength=len(texts)) > 0
        matches = self._match(self.minhash_signatures(sh32, owner, len(texts))[has], sh32)
        out: list[list[tuple[int, float]]] = [[] for _ in texts]
        for d, m in zip(np.flatnonzero(has), matches):
            out[d] = m
        return out

    # -- scanning training text ------------------------------------------------------------
    def scan(self, documents: Iterable[Document], chunk_docs: int = 20000,
             progress: Callable[[int], None] | None = None) -> tuple[list[ItemResult], ScanStats]:
        t0 = time.perf_counter()
        found: dict[int, dict[int, str]] = {m: {} for m in self.keys}
        near: list[tuple[np.ndarray, list[str], np.ndarray]] = []  # sketched documents per chunk
        stats = ScanStats()
        chunk: list[Document] = []
        for doc in documents:
            chunk.append(doc)
            if len(chunk) >= chunk_docs:
                self._scan_chunk(chunk, found, near, stats, progress)
                chunk = []
        if chunk:
            self._scan_chunk(chunk, found, near, stats, progress)
        results = [ItemResult() for _ in self.texts]
        for m, (owner, grams) in self.item_grams.items():
            if not found[m]:
                continue
            hit = KeySet(np.fromiter(found[m], dtype=np.uint64, count=len(found[m]))).contains(grams)
            share = np.bincount(owner[hit], minlength=len(self.texts)) / np.maximum(np.bincount(owner, minlength=len(self.texts)), 1)
            hit_items, first = np.unique(owner[hit], return_index=True)
            for i, g in zip(hit_items.tolist(), grams[hit][first].tolist()):
                results[i].ngram_overlap, results[i].ngram_source = float(share[i]), found[m][g]
        if near:
            sigs = np.concatenate([s for s, _, _ in near])
            sources = [src for _, srcs, _ in near for src in srcs]
            for source, matches in zip(sources, self._match(sigs, np.concatenate([sh for _, _, sh in near]))):
                for j, jac in matches:
                    if jac > results[j].near_dup_jaccard:
                        results[j].near_dup_jaccard, results[j].near_source = jac, source
        stats.seconds = time.perf_counter() - t0
        return [replace(results[u]) for u in self.of_item], stats

    def _scan_chunk(self, docs: list[Document], found, near, stats: ScanStats, progress) -> None:
        texts = [d.text for d in docs]
        stats.documents += len(docs)
        stats.bytes += sum(len(t.encode()) for t in texts)
        batch = _Batch(self.hasher, texts, set(self.keys) | {self.shingle})
        for m, keys in self.keys.items():
            if m not in batch.grams:
                continue
            h = batch.grams[m]
            hit = keys.contains(h) & batch.valid(m)
            if m < min(self.n, self.min_words):  # a very short item ("Methods .") only counts as a whole document
                hit &= batch.lengths[batch.owner[: len(h)]] == m
            for pos in np.flatnonzero(hit):
                found[m].setdefault(int(h[pos]), docs[batch.owner[pos]].source)
        sh32, owner = self._shingles(batch)
        keep = self._plausible(sh32, owner, len(docs), self.shingle_keys)
        if keep.any():
            candidates = np.flatnonzero(keep)
            rows = keep[owner]
            remap = np.full(len(docs), -1)
            remap[candidates] = np.arange(len(candidates))
            sigs = self.minhash_signatures(sh32[rows], remap[owner[rows]], len(candidates))
            near.append((sigs, [docs[d].source for d in candidates], np.unique(sh32[rows])))
            stats.sketched += len(candidates)
        if progress:
            progress(len(docs))
