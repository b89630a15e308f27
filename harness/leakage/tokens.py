"""Word hashes of big text blocks, vectorised, and m-gram hashes over them from one prefix sum.

A block holds many documents, one a line. The janitor normalisation (``text.normalize``: ASCII
lower-case, ASCII punctuation deleted) and every other whitespace character mapped to a space run as
one ``bytes.translate`` over the UTF-8 block (non-ASCII whitespace first replaced by a regex); newlines become a separator word; Arrow splits the block into words and
dictionary-encodes them (C++), so only the block's *distinct* words meet Python, each hashed once
(blake2b, cached across blocks). The words are exactly ``normalize(line).split()`` of each line.

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


class WordHasher:
    """Stable 64-bit word hashes (blake2b), cached per distinct word."""

    def __init__(self):
        self.cache: dict[str, int] = {}

    def __call__(self, ws: list[str]) -> np.ndarray:
        cache = self.cache
        for w in set(ws).difference(cache):
            cache[w] = word_hash(w)
        return np.fromiter(map(cache.__getitem__, ws), dtype=np.uint64, count=len(ws))

    def block(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(word hashes, is-separator) of a block: one separator between consecutive lines."""
        import pyarrow as pa
        import pyarrow.compute as pc

        norm = pa.array([normalize_block(text)], pa.large_binary()).cast(pa.large_string())
        words = pc.ascii_split_whitespace(norm).flatten()
        enc = pc.dictionary_encode(words)
        vocab = enc.dictionary.to_pylist()
        hashes = self(vocab)
        idx = enc.indices.to_numpy()
        empty = vocab.index("") if "" in vocab else -1  # Arrow's empty first/last word around edge spaces
        if empty >= 0:
            idx = idx[idx != empty]
        sep = vocab.index(SEP) if SEP in vocab else -1
        return hashes[idx], idx == sep


class Powers:
    """P^k and P^-k mod 2^64 for k < len, grown on demand."""

    def __init__(self):
        self.pos = np.ones(1, np.uint64)
        self.inv = np.ones(1, np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pos) < n:
            size = max(n, 2 * len(self.pos))
            self.pos = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _P, np.uint64)], dtype=np.uint64)
            self.inv = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, pow(_P, -1, 1 << 64), np.uint64)],
                                  dtype=np.uint64)
        return self.pos[:n], self.inv[:n]


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
