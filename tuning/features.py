"""Examples -> token features, and the collators that batch them.

- causal LM text is packed: documents joined with EOS and cut into ``seq_length`` blocks, so
  no step is spent on padding;
- masked LM text is packed the same way (each sentence keeps its [CLS]/[SEP]); the collator masks;
- supervised QA examples are tokenised like the harness scores them (prompt, then prompt+answer),
  with the loss on the answer tokens only; an over-long prompt loses its beginning, never the
  question at its end.
"""

from __future__ import annotations

from harness.errors import MedtuneError

IGNORE = -100


def pack(token_lists: list[list[int]], seq_length: int, sep: int | None) -> list[dict]:
    """Concatenate (with ``sep`` after each document) and cut into blocks; a short tail is kept as a block."""
    flat: list[int] = []
    for ids in token_lists:
        flat += ids + ([sep] if sep is not None else [])
    blocks = [flat[i:i + seq_length] for i in range(0, len(flat), seq_length)]
    if len(blocks) > 1 and len(blocks[-1]) < seq_length // 4:
        blocks.pop()  # a scrap of a block adds noise, not signal
    return [{"input_ids": b, "labels": list(b)} for b in blocks if b]


def causal_features(tokenizer, examples, seq_length: int) -> list[dict]:
    """Language-model examples packed; QA examples one per row with the loss on the answer."""
    lm = [e.text for e in examples if e.answer is None]
    qa = [e for e in examples if e.answer is not None]
    feats = []
    if lm:
        ids = tokenizer(lm, add_special_tokens=False)["input_ids"]
        feats += pack(ids, seq_length, tokenizer.eos_token_id)
    feats += [qa_feature(tokenizer, e.text, e.answer, seq_length) for e in qa]
    return feats


def qa_feature(tokenizer, prompt: str, answer: str, seq_length: int) -> dict:
    ctx = tokenizer.encode(prompt)
    whole = tokenizer.encode(prompt + answer)
    n_ctx = len(ctx) if whole[: len(ctx)] == ctx else len(ctx) - 1  # a merge across the join
    target = whole[n_ctx:]
    if tokenizer.eos_token_id is not None:
        target = target + [tokenizer.eos_token_id]
    if len(target) >= seq_length:
        raise MedtuneError(f"train.seq_length {seq_length} is shorter than an answer ({len(target)} tokens)")
    context = whole[:n_ctx][-(seq_length - len(target)):]
    return {"input_ids": context + target, "labels": [IGNORE] * len(context) + target}


def masked_features(tokenizer, examples, seq_length: int) -> list[dict]:
    ids = tokenizer([e.text for e in examples], truncation=True, max_length=seq_length)["input_ids"]
    return [{"input_ids": b["input_ids"]} for b in pack(ids, seq_length, None)]


def count_tokens(features: list[dict]) -> int:
    return sum(len(f["input_ids"]) for f in features)


class PadCollator:
    """Right-pads ``input_ids`` (pad id) and ``labels`` (-100); builds the attention mask."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids, labels, mask = [], [], []
        for f in features:
            gap = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [self.pad_id] * gap)
            labels.append(f["labels"] + [IGNORE] * gap)
            mask.append([1] * len(f["input_ids"]) + [0] * gap)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def mlm_collator(tokenizer, probability: float):
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=probability)
