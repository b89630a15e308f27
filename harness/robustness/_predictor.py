"""Predictions through the harness, cached by (item, text): giskard asks for the same rows many times.

Documents are scored with ``harness.engine.score_docs`` (one batched backend call per request kind),
so the audit measures exactly what ``medtune eval`` measures; the model is never called directly.
With a ``partial_path`` every scored chunk is appended there as well, so an interrupted audit
resumes without re-scoring (keyed by document id and text, so it survives a changed --limit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from harness.engine import score_docs
from harness.results import Sample

ITEM = "item"  # giskard column naming the suite document a row came from


class CachedScorer:
    def __init__(self, suite, lm, adapter, progress: Callable[[int], None] | None = None, batch_docs: int = 32,
                 partial_path: Path | None = None):
        self.suite, self.lm, self.adapter = suite, lm, adapter
        self.progress, self.batch_docs = progress, batch_docs
        self._cache: dict[tuple, Sample] = {}
        self.n_scored = 0  # documents actually sent to the model (cache misses)
        self.partial_path = partial_path
        self.n_resumed = self._read_partial() if partial_path else 0

    def remember(self, items: list[tuple[int, dict]], samples: list[Sample]) -> None:
        """Samples another process scored (a rank's slice): later lookups of those documents hit the cache."""
        for (i, doc), sample in zip(items, samples):
            self._cache.setdefault((i, self.adapter.key(doc)), sample)

    def _disk_key(self, item: int, key) -> str:
        return json.dumps([str(self.adapter.docs[item]["id"]), key])

    def _read_partial(self) -> int:
        if not self.partial_path.exists():
            return 0
        by_id = {str(d["id"]): i for i, d in enumerate(self.adapter.docs)}
        with open(self.partial_path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                    doc_id, key = json.loads(row["key"])
                    sample = Sample(**row["sample"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    break  # a line cut by the interruption
                if doc_id in by_id:
                    self._cache[(by_id[doc_id], tuple(key) if isinstance(key, list) else key)] = sample
        return len(self._cache)

    def _append_partial(self, rows: list[tuple[tuple, Sample]]) -> None:
        self.partial_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.partial_path, "a") as f:
            for (item, key), sample in rows:
                f.write(json.dumps({"key": self._disk_key(item, key), "sample": sample.to_dict()}, default=str) + "\n")

    def samples(self, items: list[tuple[int, dict]]) -> list[Sample]:
        """Samples for (item index, document) pairs; only unseen (item, text) pairs reach the model."""
        keys = [(i, self.adapter.key(doc)) for i, doc in items]
        todo, seen = [], set()
        for key, (_, doc) in zip(keys, items):
            if key not in self._cache and key not in seen:
                seen.add(key)
                todo.append((key, doc))
        for start in range(0, len(todo), self.batch_docs):
            chunk = todo[start:start + self.batch_docs]
            scored = score_docs(self.suite, self.lm, [doc for _, doc in chunk], progress=self.progress)
            for (key, _), sample in zip(chunk, scored):
                self._cache[key] = sample
            self.n_scored += len(chunk)
            if self.partial_path:
                self._append_partial([(key, sample) for (key, _), sample in zip(chunk, scored)])
        return [self._cache[k] for k in keys]

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        """giskard's prediction function: rows carry the item index and the (maybe perturbed) text."""
        docs = self.adapter.docs
        items = [(int(i), self.adapter.with_text(docs[int(i)], text))
                 for i, text in zip(df[ITEM], df[self.adapter.text_column])]
        # an unperturbed row must hit the clean sample exactly (same document, not a re-split text)
        items = [(i, docs[i] if self.adapter.text(docs[i]) == self.adapter.text(doc) else doc) for i, doc in items]
        return np.array([self.adapter.output(s) for s in self.samples(items)])
