"""Word hashes of big text blocks, vectorised, and m-gram hashes over them from one prefix sum.

A block holds many documents, one a line. The janitor normalisation (``text.normalize``: ASCII
lower-case, ASCII punctuation deleted) and every other whitespace character mapped to a space run as
one ``bytes.translate`` over the UTF-8 block (non-ASCII whitespace first replaced by a regex); newlines
become a separator word; Arrow splits the block into words and dictionary-encodes them (C++). The suite
items' words are hashed once each (blake2b) when the index is built and kept with it; a corpus block's
distinct words are looked up among them in Arrow, and the others get a placeholder (``UNKNOWN``): only
words of documents that get sketched are hashed for real. The words are exactly
``normalize(line).split()`` of each line.

An m-gram hash is the polynomial ``sum_j w[i+j] * P^(m-1-j)`` mod 2^64 (the rolling hash the index
has always used). With ``T_k = sum_{t<k} w[t] * P^-t`` it is ``(T[i+m] - T[i]) * P^(i+m-1)``: one
cumulative sum serves every m, and an m-gram costs two array operations wherever it is wanted.
"""

from __future__ import annotations

import hashlib
import re
import string

import numpy as np

_P = 1099511628211
_MASK = (1 << 64) - 1
PRIME = np.uint64(_P)
SEP = "!"  # the separator word: normalised text has no punctuation left

# Non-ASCII whitespace (str.split splits on it) becomes a space; then the text is normalised as UTF-8 bytes:
# ASCII upper -> lower, ASCII whitespace other than newline -> space, ASCII punctuation deleted.
_UNI_WS = re.compile("[" + "".join(chr(i) for i in range(128, 0x110000) if chr(i).isspace()) + "]")
_BYTE_TABLE = bytes.maketrans(string.ascii_uppercase.encode() + b"\t\x0b\x0c\r\x1c\x1d\x1e\x1f",
                              string.ascii_lowercase.encode() + b" " * 8)
_PUNCT = string.punctuation.encode()


def normalize_block(text: str) -> bytes:
    """``text.normalize`` of every line, as UTF-8 bytes, with a separator word between lines."""
    if not text.isascii():
        text = _UNI_WS.sub(" ", text)
    return text.encode().translate(_BYTE_TABLE, _PUNCT).replace(b"\n", f" {SEP} ".encode())


def word_hash(w: str) -> int:
    return int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")


def word_hashes(ws: list[str]) -> np.ndarray:
    """``word_hash`` of each word, not cached (for corpus words: a corpus vocabulary has no bound)."""
    return np.fromiter(map(word_hash, ws), np.uint64, len(ws))


class WordHasher:
    """Stable 64-bit word hashes (blake2b), cached per distinct word.

    ``know(words, hashes)`` gives it a vocabulary hashed before (the suite items', from the index
    cache): ``scan_block`` then looks the block's words up in it in Arrow (C++) and gives every other
    word the placeholder ``UNKNOWN``: a word no item has can be in no item n-gram or shingle, so only
    the few documents that get sketched need those words' real hashes (``ScanWords.exact``)."""

    def __init__(self):
        self.cache: dict[str, int] = {}
        self._known, self._known_hashes = None, None  # ``know``

    def __call__(self, ws: list[str]) -> np.ndarray:
        cache = self.cache
        for w in dict.fromkeys(ws):  # first-seen order: the same vocabulary (and index file) every run
            if w not in cache:
                cache[w] = word_hash(w)
        return np.fromiter(map(cache.__getitem__, ws), dtype=np.uint64, count=len(ws))

    def _encode(self, text: str):
        import pyarrow as pa
        import pyarrow.compute as pc

        norm = pa.array([normalize_block(text)], pa.large_binary()).cast(pa.large_string())
        enc = pc.dictionary_encode(pc.ascii_split_whitespace(norm).flatten())
        vocab = enc.dictionary
        idx = enc.indices.to_numpy()
        empty, sep = pc.index(vocab, "").as_py(), pc.index(vocab, SEP).as_py()  # linear, no hash table
        if empty >= 0:  # Arrow's empty first/last word around edge spaces
            idx = idx[idx != empty]
        return vocab, idx, idx == sep

    def block(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(word hashes, is-separator) of a block: one separator between consecutive lines."""
        vocab, idx, is_sep = self._encode(text)
        return self(vocab.to_pylist())[idx], is_sep

    # -- a known vocabulary ------------------------------------------------------------------
    def vocabulary(self) -> dict[str, np.ndarray]:
        """The words hashed so far (the items' words, after the index build), as arrays ``know`` takes."""
        import pyarrow as pa

        words = pa.array(list(self.cache), pa.large_string())
        offsets, data = words.buffers()[1:]
        n = len(words)
        at = np.frombuffer(offsets, np.int64, n + 1).copy()
        return {"vocab_offsets": at,
                "vocab_data": np.frombuffer(data, np.uint8, int(at[-1])).copy() if n else np.zeros(0, np.uint8),
                "vocab_hash": np.fromiter(self.cache.values(), np.uint64, n)}

    def know(self, offsets: np.ndarray, data: np.ndarray, hashes: np.ndarray) -> None:
        import pyarrow as pa

        self._known = pa.LargeStringArray.from_buffers(len(hashes), pa.py_buffer(offsets), pa.py_buffer(data))
        self._known_hashes = hashes

    def scan_block(self, text: str) -> "ScanWords":
        """A corpus block's words: real hashes of known words (``know``), ``UNKNOWN`` for the others."""
        import pyarrow.compute as pc

        vocab, idx, is_sep = self._encode(text)
        # the hash table over the block's (smaller) vocabulary, probed by every known word
        at = pc.index_in(self._known, value_set=vocab).fill_null(-1).to_numpy()
        mine = at >= 0
        hashes = np.full(len(vocab), UNKNOWN, np.uint64)
        hashes[at[mine]] = self._known_hashes[mine]
        unknown = np.ones(len(vocab), bool)
        unknown[at[mine]] = False
        return ScanWords(hashes[idx], is_sep, unknown[idx], vocab, idx)


UNKNOWN = np.uint64(0x9E3779B97F4A7C15)  # the hash of every word the items do not have


class ScanWords:
    """A tokenised corpus block: ``wh`` word hashes (``UNKNOWN`` where ``unknown``), ``is_sep``."""

    def __init__(self, wh, is_sep, unknown, vocab, idx):
        self.wh, self.is_sep, self.unknown = wh, is_sep, unknown
        self._vocab, self._idx = vocab, idx

    def exact(self, positions: np.ndarray) -> np.ndarray:
        """The real hashes of the words at ``positions`` (blake2b of the unknown ones, now)."""
        out = self.wh[positions]
        miss = self.unknown[positions]
        if miss.any():
            distinct, inverse = np.unique(self._idx[positions[miss]], return_inverse=True)
            out[miss] = word_hashes(self._vocab.take(distinct).to_pylist())[inverse]
        return out


class Powers:
    """P^k and P^-k mod 2^64 for k < len, grown on demand. Thread-safe: the two arrays are swapped as one
    tuple, so a reader never sees one grown and the other not."""

    def __init__(self):
        self._arrays = (np.ones(1, np.uint64), np.ones(1, np.uint64))

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        pos, inv = self._arrays
        if len(pos) < n:
            size = max(n, 2 * len(pos))
            pos = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _P, np.uint64)], dtype=np.uint64)
            inv = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, pow(_P, -1, 1 << 64), np.uint64)],
                             dtype=np.uint64)
            if len(pos) > len(self._arrays[0]):  # two threads growing it at once: the longer stays
                self._arrays = (pos, inv)
        return pos[:n], inv[:n]


POWERS = Powers()


class Grams:
    """m-gram hashes of one word array (separators included), any m, anywhere, from one prefix sum."""

    def __init__(self, wh: np.ndarray, is_sep: np.ndarray):
        n = len(wh)
        self.n = n
        pos, inv = POWERS.get(n + 1)
        self.pos = pos
        with np.errstate(over="ignore"):
            self.prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(wh * inv[:n], dtype=np.uint64)])
        self.seps = np.concatenate([[0], np.cumsum(is_sep, dtype=np.int64)])

    def all(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, lies inside one document) of the m-gram at every start 0..n-m."""
        if m > self.n:
            return np.zeros(0, np.uint64), np.zeros(0, bool)
        p = self.prefix
        h = (p[m:] - p[:-m]) * self.pos[m - 1:self.n]
        return h, self.seps[m:] == self.seps[:-m]

    def at(self, starts: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, valid) of the m-grams starting at ``starts`` (valid: inside the array and one document)."""
        ok = starts + m <= self.n
        s = starts[ok]
        h = np.zeros(len(starts), np.uint64)
        h[ok] = (self.prefix[s + m] - self.prefix[s]) * self.pos[s + m - 1]
        valid = np.zeros(len(starts), bool)
        valid[ok] = self.seps[s + m] == self.seps[s]
        return h, valid
