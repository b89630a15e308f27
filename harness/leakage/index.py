"""The contamination index: suite items on one side (small), training text streamed past it in blocks.

Two tests per item, as in GPT-3 / lm-eval decontamination plus near-duplicate detection:

- **n-gram overlap**: the share of the item's normalised word n-grams (13 by default) that occur
  anywhere in the training text. An item shorter than n words counts as one n-gram of its own
  length (GPT-3's rule for short items); one shorter than ``min_words`` only matches a whole
  training document. N-grams are 64-bit polynomial hashes of stable word hashes
  (``tokens.py``: a block of text is tokenised and hashed as arrays). A corpus position is looked
  up only if its f-gram (f = the shortest gram length that matches anywhere, 8 by default) is
  some item's f-gram (a 2^26-bit bitmap), so the longer grams are hashed at few positions.
- **boilerplate is not evidence**: an n-gram found in more than ``common`` (3) distinct items of
  one suite ("which of the following is the most likely diagnosis ...") is phrasing the suite
  shares, so for that suite's items it neither counts as a match nor in the share's denominator.
- **near duplicates**: MinHash (datasketch) over word k-shingles, matched through a MinHashLSH.
  Jaccard >= t needs a t share of a document's shingles to occur in the item, so a training
  document is sketched only if that share of its shingles occurs in *some* item; and the LSH is
  built, after the scan, only over items with that share of their shingles in *some* sketched
  document (and only they are sketched). Both filters are exact necessary conditions.

The scan state (``ScanState``) of several shards merges (``merge``) into what one pass over all of
them gives, which is how ``engine.py`` spreads a corpus over processes or a dask cluster.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from harness.corpus import Block, Document, documents_to_blocks
from harness.leakage.tokens import PRIME as _PRIME, Grams, WordHasher

RETRIEVE = 0.6  # LSH retrieval threshold, as a share of the flagging threshold
COMMON = 3      # an n-gram in more than this many distinct items of a suite is that suite's boilerplate
_BITS = 26
_LOW = np.uint64((1 << _BITS) - 1)


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


def _bitmap(keys: np.ndarray, bits: int = _BITS) -> np.ndarray:
    out = np.zeros(1 << bits, dtype=bool)
    out[(keys & np.uint64((1 << bits) - 1)).astype(np.int64)] = True
    return out


class KeySet:
    """A sorted array of 64-bit keys with a bitmap in front (16+ bits a key, at most 2^26): most lookups stop there."""

    def __init__(self, keys: np.ndarray, sorted_unique: bool = False):
        self.keys = keys if sorted_unique else np.unique(keys)
        self.bits = int(min(_BITS, max(10, np.ceil(np.log2(max(len(self.keys), 1) * 16)))))
        self.low = np.uint64((1 << self.bits) - 1)
        self.bitmap = _bitmap(self.keys, self.bits)

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(len(values), dtype=bool)
        if not len(self.keys) or not len(values):
            return out
        maybe = np.flatnonzero(self.bitmap[(values & self.low).astype(np.int64)])
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
    evidence: list[dict] = field(default_factory=list)  # matched spans: {"span", "source"}


@dataclass
class ScanStats:
    documents: int = 0
    bytes: int = 0
    sketched: int = 0
    seconds: float = 0.0


@dataclass
class ScanState:
    """What a scan of some shards found: per gram length, gram hash -> first source; sketched documents."""

    found: dict[int, dict[int, str]] = field(default_factory=dict)
    sigs: list[np.ndarray] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    shingles: list[np.ndarray] = field(default_factory=list)
    stats: ScanStats = field(default_factory=ScanStats)

    def merge(self, other: "ScanState") -> "ScanState":
        """``other`` scanned text that comes after this state's (first sources are kept)."""
        for m, f in other.found.items():
            mine = self.found.setdefault(m, {})
            for g, src in f.items():
                mine.setdefault(g, src)
        self.sigs += other.sigs
        self.sources += other.sources
        self.shingles += other.shingles
        for k in ("documents", "bytes", "sketched"):
            setattr(self.stats, k, getattr(self.stats, k) + getattr(other.stats, k))
        return self


def as_blocks(source) -> Iterable[Block]:
    it = iter(source)
    first = next(it, None)
    if first is None:
        return []
    rest = itertools.chain([first], it)
    return rest if isinstance(first, Block) else documents_to_blocks(rest)


class ContaminationIndex:
    def __init__(self, items: list[Item], n: int = 13, shingle: int = 3, threshold: float = 0.5,
                 num_perm: int = 64, seed: int = 1, min_words: int = 8, common: int | None = COMMON):
        from datasketch import MinHash

        self.items, self.n, self.shingle, self.threshold, self.min_words = items, n, shingle, threshold, min_words
        self.num_perm, self.common = num_perm, common
        self.hasher = WordHasher()
        self._proto = MinHash(num_perm=num_perm, seed=seed)
        # suites share items (pubmedqa / pubmedqa_noabstract): index each distinct text once
        first: dict[str, int] = {}
        self.of_item = [first.setdefault(it.text, len(first)) for it in items]
        self.texts = list(first)
        wh, is_sep = self.hasher.block("\n".join(t.replace("\n", " ").replace("\r", " ") for t in self.texts))
        grams = Grams(wh, is_sep)
        owner_all = grams.seps[:-1]
        lengths = np.bincount(owner_all[~is_sep], minlength=len(self.texts)).astype(np.int64)
        starts = np.r_[0, np.flatnonzero(is_sep) + 1].astype(np.int64)
        self.lengths = lengths
        m_of = np.minimum(n, lengths)
        # each item's n-grams, or (shorter than n) the whole item as one m-gram: (owner, hash, word offset)
        self.item_grams: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for m in np.unique(m_of[m_of > 0]).tolist():
            if m < n:  # the whole item
                own = np.flatnonzero(m_of == m)
                h, _ = grams.at(starts[own], m)
                self.item_grams[m] = (own, h, np.zeros(len(own), np.int64))
            else:
                h, valid = grams.all(m)
                pos = np.flatnonzero(valid & (m_of[owner_all[: len(h)]] == m))
                own = owner_all[pos]
                self.item_grams[m] = (own, h[pos], pos - starts[own])
        self.keys, self.counted = {}, {}
        for m, (own, g, _) in self.item_grams.items():
            uniq, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
            self.keys[m] = KeySet(uniq, sorted_unique=True)
            self.counted[m] = self._not_boilerplate(own, inverse, counts) if m == n else np.ones(len(g), bool)
        # lengths that match anywhere; their shortest, f, gates the lookups (every such key starts with an item f-gram)
        self.long_ms = sorted(m for m in self.keys if m >= min(n, min_words))
        self.short_ms = sorted(m for m in self.keys if m < min(n, min_words))
        self.f = min(self.long_ms) if self.long_ms else None
        if self.f is not None:
            hf, vf = grams.all(self.f)
            self.filter_bits = _bitmap(hf[vf & (lengths[owner_all[: len(hf)]] >= self.f)])
        self.item_sh32, self.item_owner = self._shingles(grams, owner_all)
        self.shingle_keys = KeySet(self.item_sh32.astype(np.uint64))
        self._sigs: dict[int, np.ndarray] = {}

    # -- the suite side ----------------------------------------------------------------------
    def _not_boilerplate(self, owner: np.ndarray, inverse: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """False for (item, n-gram) pairs whose n-gram more than ``common`` distinct items of the item's suite share."""
        keep = np.ones(len(inverse), bool)
        if self.common is None or not len(inverse):
            return keep
        frequent = np.flatnonzero(counts > self.common)  # necessary: more occurrences than `common`
        if not len(frequent):
            return keep
        suites_of: dict[int, set[str]] = {}
        for it, t in zip(self.items, self.of_item):
            suites_of.setdefault(t, set()).add(it.suite)
        rows = np.flatnonzero(np.isin(inverse, frequent))
        per: dict[tuple[int, str], set[int]] = {}
        for r in rows.tolist():
            for s in suites_of[int(owner[r])]:
                per.setdefault((int(inverse[r]), s), set()).add(int(owner[r]))
        common = {k for k, v in per.items() if len(v) > self.common}
        for r in rows.tolist():
            if any((int(inverse[r]), s) in common for s in suites_of[int(owner[r])]):
                keep[r] = False
        return keep

    def _shingles(self, grams: Grams, owner_all: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, valid = grams.all(self.shingle)
        return (h[valid] >> np.uint64(32)).astype(np.uint32), owner_all[: len(h)][valid]

    def _plausible(self, sh32: np.ndarray, owner: np.ndarray, n_docs: int, keys: KeySet) -> np.ndarray:
        """Documents with at least RETRIEVE * threshold of their shingles in ``keys``."""
        total = np.bincount(owner, minlength=n_docs)
        shared = np.bincount(owner[keys.contains(sh32.astype(np.uint64))], minlength=n_docs)
        return (total > 0) & (shared >= RETRIEVE * self.threshold * np.maximum(total, 1))

    def item_signatures(self, which: np.ndarray) -> np.ndarray:
        """MinHash signatures of the items ``which`` (computed once each, on demand)."""
        todo = np.array(sorted(set(which.tolist()).difference(self._sigs)), dtype=np.int64)
        if len(todo):
            rows = np.isin(self.item_owner, todo)
            remap = np.full(len(self.texts), -1)
            remap[todo] = np.arange(len(todo))
            sigs = self.minhash_signatures(self.item_sh32[rows], remap[self.item_owner[rows]], len(todo))
            self._sigs.update(zip(todo.tolist(), sigs))
        return np.array([self._sigs[i] for i in which.tolist()]).reshape(len(which), self.num_perm)

    @property
    def signatures(self) -> np.ndarray:
        return self.item_signatures(np.arange(len(self.texts)))

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
        item_sigs = dict(zip(items.tolist(), self.item_signatures(items)))
        lsh = MinHashLSH(threshold=RETRIEVE * self.threshold, num_perm=self.num_perm)
        with lsh.insertion_session() as session:
            for i, s in item_sigs.items():
                session.insert(i, self._minhash(s), check_duplication=False)
        return [[(j, float(np.mean(item_sigs[j] == sig))) for j in lsh.query(self._minhash(sig))]
                for sig in sigs]

    def near_duplicates(self, texts: list[str]) -> list[list[tuple[int, float]]]:
        """For each text: (index into ``self.texts``, estimated Jaccard) of the items LSH finds near it."""
        wh, is_sep = self.hasher.block("\n".join(t.replace("\n", " ").replace("\r", " ") for t in texts))
        grams = Grams(wh, is_sep)
        sh32, owner = self._shingles(grams, grams.seps[:-1])
        has = np.bincount(owner, minlength=len(texts)) > 0
        matches = self._match(self.minhash_signatures(sh32, owner, len(texts))[has], sh32)
        out: list[list[tuple[int, float]]] = [[] for _ in texts]
        for d, m in zip(np.flatnonzero(has), matches):
            out[d] = m
        return out

    # -- scanning training text ------------------------------------------------------------
    def scan(self, source, progress: Callable[[int], None] | None = None) -> tuple[list[ItemResult], ScanStats]:
        """Scan ``source`` (Documents or corpus Blocks) and score every item."""
        t0 = time.perf_counter()
        state = self.scan_blocks(as_blocks(source), progress)
        results = self.finish(state)
        state.stats.seconds = time.perf_counter() - t0
        return results, state.stats

    def scan_blocks(self, blocks: Iterable[Block], progress: Callable[[int], None] | None = None) -> ScanState:
        state = ScanState(found={m: {} for m in self.keys})
        for block in blocks:
            self._scan_block(block, state, progress)
        return state

    def finish(self, state: ScanState) -> list[ItemResult]:
        """Per item results (in ``items`` order) from a (merged) scan state."""
        results = [ItemResult() for _ in self.texts]
        hits: dict[int, list[tuple[int, int, str]]] = {}  # text -> (word offset, m, source) of counted matches
        for m, (owner, grams, offset) in self.item_grams.items():
            found = state.found.get(m)
            if not found:
                continue
            counted = self.counted[m]
            hit = KeySet(np.fromiter(found, dtype=np.uint64, count=len(found))).contains(grams) & counted
            total = np.bincount(owner[counted], minlength=len(self.texts))
            share = np.bincount(owner[hit], minlength=len(self.texts)) / np.maximum(total, 1)
            for r in np.flatnonzero(hit).tolist():
                hits.setdefault(int(owner[r]), []).append((int(offset[r]), m, found[int(grams[r])]))
            for i in np.unique(owner[hit]).tolist():
                results[i].ngram_overlap = float(share[i])
        for i, h in hits.items():
            results[i].ngram_source = h[0][2]
            results[i].evidence = self._spans(i, h)
        if state.sigs:
            sigs = np.concatenate(state.sigs)
            for source, matches in zip(state.sources, self._match(sigs, np.concatenate(state.shingles))):
                for j, jac in matches:
                    if jac > results[j].near_dup_jaccard:
                        results[j].near_dup_jaccard, results[j].near_source = jac, source
        return [ItemResult(**vars(results[u])) for u in self.of_item]

    def _spans(self, text: int, hits: list[tuple[int, int, str]], top: int = 3) -> list[dict]:
        """Matched word spans of an item (overlapping matched n-grams merged), each with its first source."""
        from harness.leakage.text import words

        ws = words(self.texts[text])
        spans: list[list] = []
        for start, m, src in sorted(hits):
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], start + m)
            else:
                spans.append([start, start + m, src])
        spans.sort(key=lambda s: s[0] - s[1])
        return [{"span": " ".join(ws[a:b]), "words": [a, b], "source": src} for a, b, src in spans[:top]]

    def _scan_block(self, block: Block, state: ScanState, progress) -> None:
        found, stats = state.found, state.stats
        wh, is_sep = self.hasher.block(block.text)
        grams = Grams(wh, is_sep)
        doc_of = grams.seps[:-1]
        n_docs = int(grams.seps[-1]) + 1
        lengths = np.bincount(doc_of[~is_sep], minlength=n_docs)
        stats.documents += int(np.count_nonzero(lengths))
        stats.bytes += len(block.text.encode())
        if self.f is not None:
            hf, vf = grams.all(self.f)
            cand = np.flatnonzero(self.filter_bits[(hf & _LOW).astype(np.int64)] & vf)
            for m in self.long_ms:
                h, valid = (hf[cand], vf[cand]) if m == self.f else grams.at(cand, m)
                hit = valid & self.keys[m].contains(h)
                for pos, g in zip(cand[hit].tolist(), h[hit].tolist()):
                    found[m].setdefault(g, block.source(int(doc_of[pos])))
        if self.short_ms:  # a very short item ("Methods .") only counts as a whole document
            starts = np.r_[0, np.flatnonzero(is_sep) + 1]
            for m in self.short_ms:
                docs = np.flatnonzero(lengths == m)
                h, valid = grams.at(starts[docs], m)
                hit = valid & self.keys[m].contains(h)
                for d, g in zip(docs[hit].tolist(), h[hit].tolist()):
                    found[m].setdefault(g, block.source(d))
        sh32, owner = self._shingles(grams, doc_of)
        keep = self._plausible(sh32, owner, n_docs, self.shingle_keys)
        if keep.any():
            candidates = np.flatnonzero(keep)
            rows = keep[owner]
            remap = np.full(n_docs, -1)
            remap[candidates] = np.arange(len(candidates))
            state.sigs.append(self.minhash_signatures(sh32[rows], remap[owner[rows]], len(candidates)))
            state.sources += [block.source(int(d)) for d in candidates]
            state.shingles.append(np.unique(sh32[rows]))
            stats.sketched += len(candidates)
        if progress:
            progress(int(np.count_nonzero(lengths)))
