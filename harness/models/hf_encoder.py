"""Token-classification backend for the model contract (NER suites): words in, one label per word out.

Words are tokenised with ``is_split_into_words``; each word is labelled by its *first* subword
(the convention the ``ner_head`` tuning method trains with). A sentence longer than the model's
window is split between words into several windows, so no word is ever dropped; a word with no
subword at all (e.g. a lone zero-width space) is given the tokenizer's unknown token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.contract import ModelInfo, Request
from harness.errors import MedtuneError
from harness.models.hf_load import count_params, load_model, load_tokenizer, pick_device, pick_dtype

#: written next to a LoRA adapter: the label set of its (new) classifier, which the base lacks
LABELS_FILE = "ner_labels.json"


@dataclass
class Window:
    """A run of whole words encoded as one model input."""

    words: list[int]  # word indices (into the sentence) covered by this window
    input_ids: list[int]  # with special tokens
    first: list[int]  # position of each word's first subword in ``input_ids``


def word_windows(tokenizer, sentences: Sequence[Sequence[str]], max_length: int) -> list[list[Window]]:
    """Encode word lists into windows of at most ``max_length`` tokens, splitting only between words."""
    head = [tokenizer.cls_token_id] if tokenizer.cls_token_id is not None else []
    tail = [tokenizer.sep_token_id] if tokenizer.sep_token_id is not None else []
    budget = max_length - len(head) - len(tail)
    if budget < 1:
        raise MedtuneError(f"max_length {max_length} leaves no room for words")
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
    out = []
    for i, words in enumerate(sentences):
        pieces: list[list[int]] = [[] for _ in words]
        for tid, w in zip(enc["input_ids"][i], enc.word_ids(i)):
            if w is not None:
                pieces[w].append(tid)
        windows, cur, used = [], [], 0
        for w, p in enumerate(pieces):
            p = (p or [unk])[:budget]  # a word longer than a window keeps its first subwords
            if cur and used + len(p) > budget:
                windows.append(_window(cur, pieces, head, tail, unk, budget))
                cur, used = [], 0
            cur.append(w)
            used += len(p)
        if cur or not words:
            windows.append(_window(cur, pieces, head, tail, unk, budget))
        out.append(windows)
    return out


def _window(word_idx, pieces, head, tail, unk, budget) -> Window:
    ids, first = list(head), []
    for w in word_idx:
        first.append(len(ids))
        ids.extend((pieces[w] or [unk])[:budget])
    return Window(word_idx, ids + tail, first)


def model_labels(model) -> list[str]:
    cfg = model.config
    return [cfg.id2label[i] for i in range(len(cfg.id2label))]


class HFTokenClassifier:
    KINDS = ("token_labels",)

    def __init__(self, ref, device: str = "auto", dtype: str = "auto", batch_size: int | str = "auto",
                 max_length: int = 256, model=None, tokenizer=None):
        from transformers import AutoModelForTokenClassification

        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.tokenizer = tokenizer or load_tokenizer(ref)
        kwargs = {}
        labels_file = Path(ref.adapter) / LABELS_FILE if ref.adapter else None
        if labels_file is not None and labels_file.exists():  # LoRA NER: the classifier lives in the adapter
            labels = json.loads(labels_file.read_text())
            kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                      "label2id": {l: i for i, l in enumerate(labels)}}
        self.model = model if model is not None else load_model(
            ref, AutoModelForTokenClassification, self.device, self.dtype, self.tokenizer, **kwargs)
        cfg = self.model.config
        self.max_length = min(max_length, getattr(cfg, "max_position_embeddings", max_length))
        self.labels = model_labels(self.model)
        self.has_head = _has_trained_head(ref)
        self.batch_size = 32 if batch_size == "auto" else max(1, int(batch_size))
        self.info = ModelInfo(name=ref.name, path=ref.location, kind="encoder", dtype=str(self.dtype).replace("torch.", ""),
                              device=self.device, n_params=count_params(self.model),
                              extra={"adapter": ref.adapter, "batch_size": self.batch_size, "labels": self.labels,
                                     "max_length": self.max_length})

    def supports(self, kind: str) -> bool:
        return kind in self.KINDS

    def token_labels(self, requests: list[Request], progress=None) -> list[list[str]]:
        sentences = [list(r.args[0]) for r in requests]
        windows = word_windows(self.tokenizer, sentences, self.max_length)
        flat = [(i, w) for i, ws in enumerate(windows) for w in ws]
        results = [[None] * len(s) for s in sentences]
        order = sorted(range(len(flat)), key=lambda j: -len(flat[j][1].input_ids))  # less padding
        for start in range(0, len(order), self.batch_size):
            batch = [flat[j] for j in order[start:start + self.batch_size]]
            for (i, win), pred in zip(batch, self._predict([w for _, w in batch])):
                for w, label in zip(win.words, pred):
                    results[i][w] = label
            if progress:
                progress(sum(1 for i, w in batch if w.words and w.words[-1] == len(sentences[i]) - 1))
        return results

    def _predict(self, windows: list[Window]) -> list[list[str]]:
        import torch

        pad = self.tokenizer.pad_token_id or 0
        L = max(len(w.input_ids) for w in windows)
        ids = torch.full((len(windows), L), pad, dtype=torch.long)
        mask = torch.zeros((len(windows), L), dtype=torch.long)
        for i, w in enumerate(windows):
            ids[i, : len(w.input_ids)] = torch.tensor(w.input_ids)
            mask[i, : len(w.input_ids)] = 1
        with torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        best = logits.argmax(-1).cpu()
        return [[self.labels[int(best[i, p])] for p in w.first] for i, w in enumerate(windows)]


def _has_trained_head(ref) -> bool:
    """Whether the checkpoint (or adapter) carries a token-classification head, not a fresh one."""
    for where in (ref.adapter, ref.path):
        if not where:
            continue
        d = Path(where)
        if (d / LABELS_FILE).exists():
            return True
        cfg = d / "config.json"
        if cfg.exists() and any("ForTokenClassification" in a for a in json.loads(cfg.read_text()).get("architectures") or []):
            return True
    return False
