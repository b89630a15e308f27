"""Predictions through the harness, cached by (item, text): giskard asks for the same rows many times.

Documents are scored with ``harness.engine.score_docs`` (one batched backend call per request kind),
so the audit measures exactly what ``medtune eval`` measures; the model is never called directly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from harness.engine import score_docs
from harness.results import Sample

ITEM = "item"  # giskard column naming the suite document a row came from


class CachedScorer:
    def __init__(self, suite, lm, adapter, progress: Callable[[int], None] | None = None, batch_docs: int = 32):
        self.suite, self.lm, self.adapter = suite, lm, adapter
        self.progress, self.batch_docs = progress, batch_docs
        self._cache: dict[tuple, Sample] = {}
        self.n_scored = 0  # documents actually sent to the model (cache misses)

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
        return [self._cache[k] for k in keys]

    def predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        """giskard's prediction function: rows carry the item index and the (maybe perturbed) text."""
        docs = self.adapter.docs
        items = [(int(i), self.adapter.with_text(docs[int(i)], text))
                 for i, text in zip(df[ITEM], df[self.adapter.text_column])]
        # an unperturbed row must hit the clean sample exactly (same document, not a re-split text)
        items = [(i, docs[i] if self.adapter.text(docs[i]) == self.adapter.text(doc) else doc) for i, doc in items]
        return np.array([self.adapter.output(s) for s in self.samples(items)])
