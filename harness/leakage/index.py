"""The contamination index: suite items on one side (small), training text streamed past it in blocks.

Two tests per item, as in GPT-3 / lm-eval decontamination plus near-duplicate detection:

- **n-gram overlap**: the share of the item's normalised word n-grams (13 by default) that occur
  anywhere in the training text. An item shorter than n words counts as one n-gram of its own
  length (GPT-3's rule for short items); one shorter than ``min_words`` only matches a whole
  training document. N-grams are 64-bit polynomial hashes of stable word hashes
  (``tokens.py``: a block of text is tokenised and hashed as arrays). A corpus position is looked
  up only if its f-gram (f = the shortest gram length that matches anywhere, 8 by default) is
  some item's f-gram (a packed 2^26-bit bitmap), so the longer grams are hashed at few positions;
  a window through a word no item has (``tokens.UNKNOWN``) is never looked up.
- **boilerplate is not evidence**: an n-gram found in more than ``common`` (3) distinct items of
  one suite ("which of the following is the most likely diagnosis ...") is phrasing the suite
  shares, so for that suite's items it neither counts as a match nor in the share's denominator.
- **near duplicates**: MinHash (datasketch's affine32 scheme, computed as arrays) over word
  k-shingles, matched by datasketch MinHashLSH's banding (its b x r for the retrieval threshold),
  vectorised (``BandLSH``: the same collisions). Jaccard >= t needs a t share of a document's
  shingles to occur in the item, so a training document is sketched only if that share of its
  shingles occurs in *some* item; an item counts only if that share of its shingles occurs in
  *some* sketched document (known at the end: the scan marks which item shingles it has seen).
  Both filters are exact necessary conditions (a shingle with a word no item has is no item's
  shingle; the sketches use every word's real hash). Each block's sketches are matched as the block
  is scanned and only the best match per item is kept, so memory does not grow with the corpus.

The scan state (``ScanState``) of several shards merges (``merge``) into what one pass over all of
them gives, which is how ``parallel.py`` spreads a corpus over local threads and ``engine.py`` over a
dask cluster. The built index is cached on disk (``index_cache.py``), keyed by the items' suites and
texts and the settings; a big one builds its shingle side on a second thread (``background.py``).
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from harness.corpus import BLOCK_CHARS, Block, Document, documents_to_blocks
from harness.leakage.background import Background
from harness.leakage.tokens import PRIME as _PRIME, Grams, WordHasher

RETRIEVE = 0.6  # LSH retrieval threshold, as a share of the flagging threshold
CACHE_MIN_CHARS = 1 << 20  # suites this big cache their built index by default
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
    """A packed bit set (2^bits bits, ``bits`` >= 3) of the low ``bits`` bits of ``keys``: 8x smaller than a bool
    array, so lookups stay in cache."""
    out = np.zeros(1 << bits, dtype=bool)
    out[(keys & np.uint64((1 << bits) - 1)).astype(np.int64)] = True
    return np.packbits(out, bitorder="little")


def _in_bitmap(bitmap: np.ndarray, values: np.ndarray, low: np.uint64) -> np.ndarray:
    v = values & low
    return (bitmap[(v >> np.uint64(3)).astype(np.intp)] >> (v & np.uint64(7)).astype(np.uint8)) & np.uint8(1) != 0


class KeySet:
    """A set of 64-bit keys for vectorised membership tests: a packed bitmap of their low bits in front
    (16+ bits a key, at most 2^26), so most lookups stop there, then a bucketed sorted array: the keys
    sorted, with the start of every bucket of equal top bits (about one key a bucket; the keys are
    hashes, uniform below their highest bit), so the few
    lookups that pass the bitmap compare against a handful of keys instead of a binary search's cache
    misses. ``bitmap`` and ``starts``: those built before (from the index cache)."""

    def __init__(self, keys: np.ndarray, sorted_unique: bool = False, bitmap: np.ndarray | None = None,
                 starts: np.ndarray | None = None):
        self.keys = keys if sorted_unique else np.unique(keys)
        n = max(len(self.keys), 1)
        self.bits = int(min(_BITS, max(10, np.ceil(np.log2(n * 16)))))
        self.low = np.uint64((1 << self.bits) - 1)
        self.bitmap = bitmap if bitmap is not None and len(bitmap) << 3 == 1 << self.bits else _bitmap(self.keys, self.bits)
        top = int(min(30, max(1, np.ceil(np.log2(n)))))
        width = int(self.keys[-1]).bit_length() if len(self.keys) else 64  # 32 for 32-bit shingle keys
        self.shift = np.uint64(max(0, width - top))
        if starts is None or len(starts) != (1 << top) + 1:
            counts = np.bincount((self.keys >> self.shift).astype(np.intp), minlength=1 << top)
            starts = np.r_[0, np.cumsum(counts)].astype(np.int32 if len(self.keys) < 2**31 else np.int64)
        self.starts = starts

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, values: np.ndarray) -> np.ndarray:
        return self.find(values) >= 0

    def find(self, values: np.ndarray) -> np.ndarray:
        """Each value's position in ``keys``, -1 where it is not a key."""
        out = np.full(len(values), -1, dtype=np.int64)
        if not len(self.keys) or not len(values):
            return out
        maybe = np.flatnonzero(_in_bitmap(self.bitmap, values, self.low))
        v = values[maybe]
        bucket = (v >> self.shift).astype(np.intp)
        at, end = self.starts[bucket], self.starts[bucket + 1]
        pos = np.full(len(v), -1, dtype=np.int64)
        live = np.flatnonzero(at < end)
        while len(live):  # one pass per key of the fullest bucket probed (a handful)
            hit = self.keys[at[live]] == v[live]
            pos[live[hit]] = at[live[hit]]
            at[live] += 1
            live = live[~hit & (at[live] < end[live])]
        out[maybe] = pos
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
    """What a scan of some shards found: per gram length, gram hash -> first source; per item text the
    best near-duplicate (estimated Jaccard, first source reaching it); which item shingles occur in
    sketched documents. Its size depends on the items, not on the corpus."""

    found: dict[int, dict[int, str]] = field(default_factory=dict)
    best: np.ndarray | None = None           # per item text: best estimated Jaccard so far
    best_src: dict[int, str] = field(default_factory=dict)
    seen: np.ndarray | None = None           # per distinct item shingle: in some sketched document
    stats: ScanStats = field(default_factory=ScanStats)

    def __getstate__(self) -> dict:  # sent between processes: ``best`` and ``seen`` are mostly zeros
        d = dict(vars(self))
        d["best"] = (len(self.best), np.flatnonzero(self.best), self.best[self.best > 0]) if self.best is not None else None
        d["seen"] = (len(self.seen), np.flatnonzero(self.seen)) if self.seen is not None else None
        return d

    def __setstate__(self, d: dict) -> None:
        if d["best"] is not None:
            n, at, values = d["best"]
            d["best"] = np.zeros(n)
            d["best"][at] = values
        if d["seen"] is not None:
            n, at = d["seen"]
            d["seen"] = np.zeros(n, bool)
            d["seen"][at] = True
        vars(self).update(d)

    def offer(self, texts: np.ndarray, jac: np.ndarray, sources: list[str]) -> None:
        """Candidates in corpus order (one per text): kept where strictly better than what came before."""
        better = jac > self.best[texts]
        for t, j, src in zip(texts[better].tolist(), jac[better].tolist(), itertools.compress(sources, better)):
            self.best[t] = j
            self.best_src[t] = src

    def merge(self, other: "ScanState") -> "ScanState":
        """``other`` scanned text that comes after this state's (first sources are kept)."""
        for m, f in other.found.items():
            mine = self.found.setdefault(m, {})
            for g, src in f.items():
                mine.setdefault(g, src)
        texts = np.array(sorted(other.best_src), dtype=np.int64)
        if len(texts):
            self.offer(texts, other.best[texts], [other.best_src[t] for t in texts.tolist()])
        self.seen |= other.seen
        for k in ("documents", "bytes", "sketched"):
            setattr(self.stats, k, getattr(self.stats, k) + getattr(other.stats, k))
        return self


def as_blocks(source, block_chars: int = BLOCK_CHARS) -> Iterable[Block]:
    it = iter(source)
    first = next(it, None)
    if first is None:
        return []
    rest = itertools.chain([first], it)
    return rest if isinstance(first, Block) else documents_to_blocks(rest, block_chars)


class _Lazy:
    """``results[i]``: the result of item text i, made on first use (most items have none)."""

    def __init__(self, made: dict[int, "ItemResult"]):
        self.made = made

    def __getitem__(self, i: int) -> "ItemResult":
        r = self.made.get(i)
        if r is None:
            r = self.made[i] = ItemResult()
        return r


@functools.lru_cache(maxsize=None)
def _bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch MinHashLSH's (b, r) for a threshold (it integrates to find them: worth keeping)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


class BandLSH:
    """datasketch ``MinHashLSH``'s banding over item signatures, as arrays: a query collides with
    an item when one band (``r`` consecutive signature values, ``b`` bands) is equal, exactly as
    ``MinHashLSH(threshold, num_perm).query`` retrieves it, for many queries at once."""

    def __init__(self, sigs: np.ndarray, ids: np.ndarray, threshold: float, num_perm: int,
                 tables: dict[str, np.ndarray] | None = None):
        """``tables``: ``self.arrays()`` of the same signatures, built before (from the index cache).

        Every band of every item is one key, ``band hash >> 5 << 5 | band``, so one table serves all bands:
        its distinct keys in a ``KeySet`` (most query keys stop at its bitmap), with each key's run of
        entries (item row * b + band) in ``order``. The 5 hash bits dropped only add collisions, and every
        collision is checked on the band's signature values."""
        self.b, self.r = _bands(threshold, num_perm)
        assert self.b <= 32
        self.sigs, self.ids = sigs, ids
        if tables is None or tables["lsh_order"].shape != (self.b * len(sigs),):
            keys = self._keys(sigs).ravel()  # item-major: entry i * b + band
            order = np.argsort(keys, kind="stable")
            distinct, first = np.unique(keys[order], return_index=True)
            ks = KeySet(distinct, sorted_unique=True)
            tables = {"lsh_keys": distinct, "lsh_run": np.r_[first, len(keys)], "lsh_order": order,
                      "lsh_bits": ks.bitmap, "lsh_starts": ks.starts}
        self.tables = tables
        self.table = KeySet(tables["lsh_keys"], sorted_unique=True, bitmap=tables["lsh_bits"],
                            starts=tables["lsh_starts"])
        self.run, self.order = tables["lsh_run"], tables["lsh_order"]

    def arrays(self) -> dict[str, np.ndarray]:
        """The table: distinct keys, where each one's entries start in ``lsh_order``, the entries (item row * b
        + band), and the key set's bitmap and bucket starts."""
        return self.tables

    def _keys(self, sigs: np.ndarray) -> np.ndarray:
        """[len(sigs), b] band keys."""
        h = np.zeros((len(sigs), self.b), np.uint64)
        bands = sigs[:, : self.b * self.r].astype(np.uint64).reshape(len(sigs), self.b, self.r)
        with np.errstate(over="ignore"):
            for j in range(self.r):
                h = h * _PRIME + bands[:, :, j]
        return (h >> np.uint64(5) << np.uint64(5)) | np.arange(self.b, dtype=np.uint64)

    def query(self, sigs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, item id, estimated Jaccard) of every colliding pair, each pair once."""
        empty = np.zeros(0, np.int64)
        if not len(sigs) or not len(self.order):
            return empty, self.ids[empty], np.zeros(0)
        at = self.table.find(self._keys(sigs).ravel())
        qb = np.flatnonzero(at >= 0)  # query row * b + band of the keys some item has
        lo = self.run[at[qb]]
        cnt = self.run[at[qb] + 1] - lo
        total = int(cnt.sum())
        if not total:
            return empty, self.ids[empty], np.zeros(0)
        qb = np.repeat(qb, cnt)
        within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        entry = self.order[np.repeat(lo, cnt) + within]
        q, band, row = qb // self.b, qb % self.b, entry // self.b
        cols = band[:, None] * self.r + np.arange(self.r)
        same = (sigs[q[:, None], cols] == self.sigs[row[:, None], cols]).all(axis=1)  # a key collision is not a match
        n = max(len(self.ids), 1)
        pair = np.unique(q[same] * n + row[same])
        q, row = pair // n, pair % n
        jac = (sigs[q] == self.sigs[row]).sum(axis=1) / sigs.shape[1]
        return q, self.ids[row], jac


class ContaminationIndex:
    def __init__(self, items: list[Item], n: int = 13, shingle: int = 3, threshold: float = 0.5,
                 num_perm: int = 64, seed: int = 1, min_words: int = 8, common: int | None = COMMON,
                 cache: bool | None = None, workers: int = 1):
        """``cache``: load the built index from the medtune cache dir, or build and save it there
        (None: when the items hold at least ``CACHE_MIN_CHARS`` characters; small indexes build in no time).
        ``workers`` > 1: a big index builds its shingle side (sketches) on a second thread meanwhile."""
        from datasketch import MinHash

        self.items, self.n, self.shingle, self.threshold, self.min_words = items, n, shingle, threshold, min_words
        self.num_perm, self.common, self.workers = num_perm, common, workers
        self.hasher = WordHasher()
        self._proto = MinHash(num_perm=num_perm, seed=seed)
        # suites share items (pubmedqa / pubmedqa_noabstract): index each distinct text once
        first: dict[str, int] = {}
        self.of_item = [first.setdefault(it.text, len(first)) for it in items]
        self.texts = list(first)
        self.cache_hit = False
        arrays = None
        if cache is None:
            cache = sum(map(len, self.texts)) >= CACHE_MIN_CHARS
        if cache:
            from harness.leakage import index_cache

            arrays = index_cache.load(self)
            self.cache_hit = arrays is not None
        if arrays is None:
            arrays = self._build()
            if cache:
                index_cache.save(self, arrays)
        self._setup(arrays)

    # -- the suite side ----------------------------------------------------------------------
    def settings_key(self) -> dict:
        return {"n": self.n, "shingle": self.shingle, "threshold": self.threshold, "num_perm": self.num_perm,
                "seed": self._proto.seed, "min_words": self.min_words, "common": self.common, "retrieve": RETRIEVE}

    def _build(self) -> dict[str, np.ndarray]:
        """Everything the index holds, as arrays (what the cache stores)."""
        wh, is_sep = self.hasher.block("\n".join(t.replace("\n", " ").replace("\r", " ") for t in self.texts))
        grams = Grams(wh, is_sep)
        owner_all = grams.seps[:-1]
        lengths = np.bincount(owner_all[~is_sep], minlength=len(self.texts)).astype(np.int64)
        starts = np.r_[0, np.flatnonzero(is_sep) + 1].astype(np.int64)
        big = len(wh) >= CACHE_MIN_CHARS // 8
        shingles = Background(lambda: self._build_shingles(grams, owner_all), use=big and self.workers > 1)
        try:
            out = self._build_grams(grams, owner_all, lengths, starts)
        except Exception:
            shingles.wait()  # no thread left computing behind the error
            raise
        out.update(shingles.get())
        has = self._sketched(out["item_sh_start"])
        out.update(self.hasher.vocabulary())  # the items' words and their hashes (see WordHasher.know)
        out.update(BandLSH(out["sigs"][has], has, RETRIEVE * self.threshold, self.num_perm).arrays())
        for name, a in out.items():  # positions and item numbers fit 32 bits: half the cache file to write and read
            if a.dtype == np.int64 and not name.startswith("vocab") and (not len(a) or a.max() < 2**31):
                out[name] = a.astype(np.int32)
        return out

    def _build_grams(self, grams: Grams, owner_all: np.ndarray, lengths: np.ndarray, starts: np.ndarray) -> dict:
        """The n-gram side: each item's n-grams (or whole short item), their key sets and the f-gram bitmap."""
        n, min_words = self.n, self.min_words
        m_of = np.minimum(n, lengths)
        out: dict[str, np.ndarray] = {"lengths": lengths}
        # each item's n-grams, or (shorter than n) the whole item as one m-gram: (owner, hash, word offset)
        for m in np.unique(m_of[m_of > 0]).tolist():
            if m < n:  # the whole item
                own = np.flatnonzero(m_of == m)
                h, _ = grams.at(starts[own], m)
                off = np.zeros(len(own), np.int64)
            else:
                h, valid = grams.all(m)
                pos = np.flatnonzero(valid & (m_of[owner_all[: len(h)]] == m))
                own, h = owner_all[pos], h[pos]
                off = pos - starts[own]
            if m == n:
                uniq, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
                counted = self._not_boilerplate(own, inverse, counts)
            else:
                uniq, counted = np.unique(h), np.ones(len(h), bool)
            ks = KeySet(uniq, sorted_unique=True)
            out.update({f"own{m}": own, f"hash{m}": h, f"off{m}": off, f"keys{m}": ks.keys, f"counted{m}": counted,
                        f"bits{m}": ks.bitmap, f"starts{m}": ks.starts})
        ms = [int(k[4:]) for k in out if k.startswith("keys")]
        long_ms = [m for m in ms if m >= min(n, min_words)]
        if long_ms:
            f = min(long_ms)
            hf, vf = grams.all(f)
            out["fbits"] = _bitmap(hf[vf & (lengths[owner_all[: len(hf)]] >= f)])  # every item f-gram (repeats are harmless)
        return out

    def _build_shingles(self, grams: Grams, owner_all: np.ndarray) -> dict[str, np.ndarray]:
        """The items' shingles, their MinHash signatures, and the distinct shingles with each shingle row's
        place among them (what a scan marks as seen), with the key set's bitmap and bucket starts."""
        out = {}
        sh, valid = grams.all(self.shingle)
        out["item_sh32"] = (sh[valid] >> np.uint64(32)).astype(np.uint32)
        out["item_owner"] = owner_all[: len(sh)][valid].astype(np.int32)
        out["sigs"] = self.minhash_signatures(out["item_sh32"], out["item_owner"], len(self.texts))
        # item text i's shingle rows are item_sh_start[i]:item_sh_start[i + 1] (the rows are in item order)
        out["item_sh_start"] = np.searchsorted(out["item_owner"], np.arange(len(self.texts) + 1))
        out["shkeys"], slot = np.unique(out["item_sh32"].astype(np.uint64), return_inverse=True)
        out["shslot"] = slot.astype(np.int32)
        ks = KeySet(out["shkeys"], sorted_unique=True)
        out["shbits"], out["shstarts"] = ks.bitmap, ks.starts
        return out

    @staticmethod
    def _sketched(item_sh_start: np.ndarray) -> np.ndarray:
        """The item texts that have shingles (the others have no signature)."""
        return np.flatnonzero(np.diff(item_sh_start) > 0)

    def _setup(self, a: dict[str, np.ndarray]) -> None:
        self.lengths = a["lengths"]
        ms = sorted(int(k[4:]) for k in a if k.startswith("keys"))
        self.item_grams = {m: (a[f"own{m}"], a[f"hash{m}"], a[f"off{m}"]) for m in ms}
        self.keys = {m: KeySet(a[f"keys{m}"], sorted_unique=True, bitmap=a[f"bits{m}"], starts=a[f"starts{m}"])
                     for m in ms}
        self.counted = {m: a[f"counted{m}"] for m in ms}
        # lengths that match anywhere; their shortest, f, gates the lookups (every such key starts with an item f-gram)
        self.long_ms = [m for m in ms if m >= min(self.n, self.min_words)]
        self.short_ms = [m for m in ms if m < min(self.n, self.min_words)]
        self.f = min(self.long_ms) if self.long_ms else None
        if self.f is not None:
            self.filter_bits = a["fbits"]
        self.item_sh32, self.item_owner = a["item_sh32"], a["item_owner"]
        self.shingle_keys = KeySet(a["shkeys"], sorted_unique=True, bitmap=a["shbits"], starts=a["shstarts"])
        self.item_sh_slot = a["shslot"]
        self.sigs = a["sigs"]
        self.hasher.know(a["vocab_offsets"], a["vocab_data"], a["vocab_hash"])
        self.item_sh_start = a["item_sh_start"]
        has = self._sketched(self.item_sh_start)
        self.lsh = BandLSH(self.sigs[has], has, RETRIEVE * self.threshold, self.num_perm,
                           {k: v for k, v in a.items() if k.startswith("lsh_")})

    def _not_boilerplate(self, owner: np.ndarray, inverse: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """False for (item, n-gram) pairs whose n-gram more than ``common`` distinct items of the item's suite share.

        ``owner``: each row's item text, ``inverse``: its n-gram (a place in the distinct ones, which occur
        ``counts`` times). A text belongs to the suites of the items that have it; as arrays throughout."""
        keep = np.ones(len(inverse), bool)
        if self.common is None or not len(inverse):
            return keep
        rows = np.flatnonzero((counts > self.common)[inverse])  # necessary: more occurrences than `common`
        if not len(rows):
            return keep
        suite_no = {name: k for k, name in enumerate(dict.fromkeys(it.suite for it in self.items))}
        n_suites, n_texts = len(suite_no), len(self.texts)
        pairs = np.unique(np.asarray(self.of_item, np.int64) * n_suites  # (text, suite), sorted by text
                          + np.fromiter((suite_no[it.suite] for it in self.items), np.int64, len(self.items)))
        pair_text = pairs // n_suites
        lo = np.searchsorted(pair_text, owner[rows], "left")
        cnt = np.searchsorted(pair_text, owner[rows], "right") - lo
        within = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        r = np.repeat(rows, cnt)  # a row per suite of its text
        key = inverse[r].astype(np.int64) * n_suites + pairs[np.repeat(lo, cnt) + within] % n_suites  # (n-gram, suite)
        texts_per_key = np.unique(np.unique(key * n_texts + owner[r]) // n_texts, return_counts=True)
        common = texts_per_key[0][texts_per_key[1] > self.common]
        keep[r[np.isin(key, common)]] = False
        return keep

    def _shingles(self, grams: Grams, owner_all: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, valid = grams.all(self.shingle)
        return (h[valid] >> np.uint64(32)).astype(np.uint32), owner_all[: len(h)][valid]

    def _plausible(self, sh32: np.ndarray, owner: np.ndarray, n_docs: int, keys: KeySet) -> np.ndarray:
        """Documents with at least RETRIEVE * threshold of their shingles in ``keys``."""
        return self._share_enough(owner, keys.contains(sh32.astype(np.uint64)), n_docs)

    def _share_enough(self, owner: np.ndarray, shared_rows: np.ndarray, n_docs: int) -> np.ndarray:
        return self._enough(np.bincount(owner[shared_rows], minlength=n_docs), np.bincount(owner, minlength=n_docs))

    def _enough(self, shared: np.ndarray, total: np.ndarray) -> np.ndarray:
        """Whether ``shared`` of ``total`` shingles reach the share RETRIEVE * threshold (no shingles: never)."""
        return (total > 0) & (shared >= RETRIEVE * self.threshold * np.maximum(total, 1))

    def item_signatures(self, which: np.ndarray) -> np.ndarray:
        return self.sigs[which].reshape(len(which), self.num_perm)

    @property
    def signatures(self) -> np.ndarray:
        return self.sigs

    def minhash_signatures(self, sh32: np.ndarray, owner: np.ndarray, n_docs: int, rows: int = 4096) -> np.ndarray:
        """datasketch affine32 MinHash signatures of many shingle sets at once (``owner`` sorted).

        Bit-identical to ``MinHash.update_batch`` with an identity hashfunc (a test checks it);
        vectorised because building thousands of sketches one by one dominates the index time. Permutation-major
        ([num_perm, rows] chunks of 1 MB, which stay in cache): 3x faster than shingle-major 8 MB chunks.
        """
        from datasketch.minhash import _fmix

        a, b = self._proto.permutations
        a, b = a[:, None], b[:, None]
        sig = np.full((len(a), n_docs), np.iinfo(np.uint32).max, dtype=np.uint32)
        for lo in range(0, len(sh32), rows):
            hv = _fmix(sh32[lo:lo + rows].astype(np.uint32), 32)
            phv = a * hv[None, :] + b
            own = owner[lo:lo + rows]
            firsts = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
            mins = np.minimum.reduceat(phv, firsts, axis=1)
            docs = own[firsts]
            sig[:, docs] = np.minimum(sig[:, docs], mins)
        return np.ascontiguousarray(sig.T)

    def near_duplicates(self, texts: list[str]) -> list[list[tuple[int, float]]]:
        """For each text: (index into ``self.texts``, estimated Jaccard) of the items LSH finds near it
        (items with enough of their shingles among all the texts' shingles)."""
        wh, is_sep = self.hasher.block("\n".join(t.replace("\n", " ").replace("\r", " ") for t in texts))
        grams = Grams(wh, is_sep)
        sh32, owner = self._shingles(grams, grams.seps[:-1])
        has = np.flatnonzero(np.bincount(owner, minlength=len(texts)) > 0)
        out: list[list[tuple[int, float]]] = [[] for _ in texts]
        if not len(has):
            return out
        sigs = self.minhash_signatures(sh32, owner, len(texts))[has]
        ok = self._plausible(self.item_sh32, self.item_owner, len(self.texts), KeySet(sh32.astype(np.uint64)))
        q, item, jac = self.lsh.query(sigs)
        for d, j, x in zip(has[q].tolist(), item.tolist(), jac.tolist()):
            if ok[j]:
                out[d].append((j, x))
        return out

    # -- scanning training text ------------------------------------------------------------
    def new_state(self) -> ScanState:
        return ScanState(found={m: {} for m in self.keys}, best=np.zeros(len(self.texts)),
                         seen=np.zeros(len(self.shingle_keys), bool))

    def scan(self, source, progress: Callable[[int], None] | None = None,
             scan_blocks: Callable | None = None) -> tuple[list[ItemResult], ScanStats]:
        """Scan ``source`` (Documents or corpus Blocks) and score every item; ``scan_blocks(blocks,
        progress)``: how the blocks are scanned (default ``self.scan_blocks``; ``parallel.py``)."""
        t0 = time.perf_counter()
        state = (scan_blocks or self.scan_blocks)(as_blocks(source), progress)
        results = self.finish(state)
        state.stats.seconds = time.perf_counter() - t0
        return results, state.stats

    def scan_blocks(self, blocks: Iterable[Block], progress: Callable[[int], None] | None = None) -> ScanState:
        state = self.new_state()
        for block in blocks:
            self._scan_block(block, state, progress)
        return state

    def finish(self, state: ScanState) -> list[ItemResult]:
        """Per item results (in ``items`` order) from a (merged) scan state. Read-only: the items with no
        finding share one empty result, and items of the same text share theirs."""
        made: dict[int, ItemResult] = {}
        results = _Lazy(made)
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
        if state.best_src:  # candidates count only if enough of the item's shingles were seen
            texts = np.fromiter(state.best_src, np.int64, len(state.best_src))
            lo, hi = self.item_sh_start[texts], self.item_sh_start[texts + 1]
            seen = [np.count_nonzero(state.seen[self.item_sh_slot[a:b]]) for a, b in zip(lo.tolist(), hi.tolist())]
            for i, ok in zip(texts.tolist(), self._enough(np.array(seen), hi - lo).tolist()):
                if ok:
                    results[i].near_dup_jaccard, results[i].near_source = float(state.best[i]), state.best_src[i]
        empty = ItemResult()
        return [made.get(u, empty) for u in self.of_item]

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

    def _exact_shingles(self, words, starts: np.ndarray) -> np.ndarray:
        """32-bit shingle hashes at ``starts`` from the words' real hashes (what the sketches need)."""
        k = self.shingle
        held = np.zeros(len(words.wh), bool)  # every word these shingles hold, once
        for j in range(k):
            held[starts + j] = True
        at = np.flatnonzero(held)
        wh = words.wh.copy()
        wh[at] = words.exact(at)
        h = np.zeros(len(starts), np.uint64)
        with np.errstate(over="ignore"):
            for j in range(k):
                h = h * _PRIME + wh[starts + j]
        return (h >> np.uint64(32)).astype(np.uint32)

    def _scan_block(self, block: Block, state: ScanState, progress) -> None:
        found, stats = state.found, state.stats
        words = self.hasher.scan_block(block.text)
        wh, is_sep = words.wh, words.is_sep
        grams = Grams(wh, is_sep)
        doc_of = grams.seps[:-1]
        n_docs = int(grams.seps[-1]) + 1
        lengths = np.bincount(doc_of[~is_sep], minlength=n_docs)
        stats.documents += int(np.count_nonzero(lengths))
        stats.bytes += len(block.text.encode())
        # a word no item has breaks every item n-gram and shingle through it: those windows are not looked up
        unknown_before = np.r_[0, np.cumsum(words.unknown, dtype=np.int64)]
        if self.f is not None:
            hf, vf = grams.all(self.f)
            vf &= unknown_before[self.f:] == unknown_before[:-self.f]
            cand = np.flatnonzero(vf)
            cand = cand[_in_bitmap(self.filter_bits, hf[cand], _LOW)]
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
        k = self.shingle
        h3, valid3 = grams.all(k)
        at = np.flatnonzero(valid3)  # each shingle's first word
        owner = doc_of[at]
        slot = np.full(len(at), -1, np.int64)
        look = unknown_before[at + k] == unknown_before[at]
        slot[look] = self.shingle_keys.find(h3[at[look]] >> np.uint64(32))
        in_items = slot >= 0
        keep = self._share_enough(owner, in_items, n_docs)
        if keep.any():
            candidates = np.flatnonzero(keep)
            rows = keep[owner]
            state.seen[slot[rows & in_items]] = True
            remap = np.full(n_docs, -1)
            remap[candidates] = np.arange(len(candidates))
            sigs = self.minhash_signatures(self._exact_shingles(words, at[rows]), remap[owner[rows]], len(candidates))
            q, item, jac = self.lsh.query(sigs)
            if len(q):  # per item: the best Jaccard, the first document reaching it
                order = np.lexsort((q, -jac, item))
                q, item, jac = q[order], item[order], jac[order]
                first = np.r_[True, item[1:] != item[:-1]]
                q, item, jac = q[first], item[first], jac[first]
                state.offer(item, jac, [block.source(int(d)) for d in candidates[q]])
            stats.sketched += len(candidates)
        if progress:
            progress(int(np.count_nonzero(lengths)))
