"""ner_head: fine-tune an encoder for token classification (NER) on CoNLL files.

The recipe reads top to bottom: read the CoNLL training file(s) (the label set comes from them;
a validation file must use the same tags) -> encode words into windows of whole words (a long
sentence becomes several windows, no word is dropped) and label each word's *first* subword
(other subwords and special tokens get -100, ignored by the loss) -> add a token-classification
head (all weights trained, or LoRA adapters with the head trainable when the recipe has a
``lora:`` block) -> train with the shared Trainer steps -> save a directory the harness loads with
its encoder backend (labels in ``config.id2label``; next to an adapter, in ``ner_labels.json``).
Scoring is the harness's job: ``medtune eval --variant NAME --suite ner_ncbi_disease``.

``params.time_budget_s`` fits training to a wall-clock budget on a shared machine: the learning
rate decays linearly to zero over that time (after warm-up) and training stops when it is spent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ConfigError
from harness.models.hf_encoder import LABELS_FILE, word_windows


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    eval_file: str | None = Field(None, description="CoNLL validation file (loss curve, early stopping); "
                                  "default: data.eval_size of the training sentences")
    eval_limit: int = Field(300, ge=1, description="validation sentences used (the loss is computed on CPU)")
    freeze_embeddings: bool = Field(True, description="keep the word-embedding matrix fixed: half the weights of "
                                    "a small encoder, a large share of the optimiser's time on CPU")
    time_budget_s: float | None = Field(None, gt=0, description="decay the learning rate to zero over this many "
                                        "seconds and stop there (fits a run to a shared CPU)")


def encode_corpus(tokenizer, sentences, label2id: dict[str, int], max_length: int) -> list[dict]:
    """Training features: one per window, the label at each word's first subword, -100 elsewhere."""
    feats = []
    windows = word_windows(tokenizer, [s.words for s in sentences], max_length)
    for sent, wins in zip(sentences, windows):
        for win in wins:
            labels = [-100] * len(win.input_ids)
            for w, pos in zip(win.words, win.first):
                labels[pos] = label2id[sent.tags[w]]
            feats.append({"input_ids": win.input_ids, "attention_mask": [1] * len(win.input_ids), "labels": labels})
    return feats


def build_model(parent_path: str, labels: list[str], lora=None, dtype=None):
    """An encoder with a fresh classifier over ``labels``; wrapped in LoRA (classifier trainable) if asked."""
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(
        parent_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)}, use_safetensors=True, dtype=dtype)
    if lora is None:
        return model
    from peft import LoraConfig, TaskType, get_peft_model

    from tuning.models import check_targets

    check_targets(model, list(lora.target_modules))
    config = LoraConfig(task_type=TaskType.TOKEN_CLS, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), modules_to_save=["classifier"])
    return get_peft_model(model, config)


def time_budget(seconds: float | None, warmup: float):
    """A callback: the learning rate warms up (``warmup`` steps, or that fraction of the time), then
    falls linearly to zero at ``seconds`` of wall time, where training stops."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        start = 0.0

        def _factor(self, step: int) -> float:
            elapsed = time.monotonic() - self.start
            if warmup >= 1:
                if step < warmup:
                    return (step + 1) / warmup
                return max(0.0, 1.0 - elapsed / seconds)
            warm_s = warmup * seconds
            rise = elapsed / warm_s if warm_s > 0 else 1.0
            return max(0.0, min(rise, (seconds - elapsed) / (seconds - warm_s)))

        def on_train_begin(self, args, state, control, lr_scheduler=None, **kw):
            self.start = time.monotonic()
            if lr_scheduler is not None and hasattr(lr_scheduler, "lr_lambdas"):
                lr_scheduler.lr_lambdas = [self._factor] * len(lr_scheduler.lr_lambdas)

        def on_step_end(self, args, state, control, **kw):
            if time.monotonic() - self.start >= seconds:
                control.should_training_stop = True

    return TimeBudget() if seconds else None


def read_split(root: Path, files: list[str], labels=None):
    """Sentences of the CoNLL files (tags checked against ``labels``) and their lineage entries."""
    from suites.ner.conll import read_conll
    from tuning.data import data_file, file_entry

    sentences, entries, repairs = [], [], 0
    for rel in files:
        path = data_file(root, rel, "data.files")
        corpus = read_conll(path, labels=labels)
        sentences += corpus.sentences
        repairs += len(corpus.repairs)
        entries.append(file_entry(path, "train" if labels is None else "eval", "conll"))
    return sentences, entries, repairs


def run(recipe, ctx):
    from suites.ner.conll import label_set
    from tuning import models
    from tuning.data import Example, TrainingData, split
    from tuning.lineage import outcome
    from tuning.train import save_variant, train

    # 1. what to tune and on what: file errors surface here, before a model is loaded
    if recipe.data.format != "conll":
        raise ConfigError(f"method ner_head trains on CoNLL token files (data.format conll), not {recipe.data.format!r}")
    params = Params.model_validate(recipe.params)
    parent = models.resolve_parent(recipe, ctx.store)
    if parent.adapter or parent.kind != "encoder":
        raise ConfigError(f"method ner_head needs a full-weight encoder parent; {parent.name} is "
                          f"{'a peft adapter' if parent.adapter else 'a ' + parent.kind + ' model'}")
    train_sents, files, repairs = read_split(ctx.data_root, recipe.data.files)
    if recipe.data.limit:
        train_sents = train_sents[: recipe.data.limit]
    labels = label_set({t for s in train_sents for t in s.tags})
    if params.eval_file:
        eval_sents, eval_files, _ = read_split(ctx.data_root, [params.eval_file], labels=labels)
        files += eval_files
    else:  # hold out a slice of the training sentences, as the other methods do
        by_id = {str(i): s for i, s in enumerate(train_sents)}
        tr, ev = split([Example(i, "") for i in by_id], recipe.data.eval_size, recipe.train.seed)
        train_sents, eval_sents = [by_id[e.id] for e in tr], [by_id[e.id] for e in ev]
    eval_sents = eval_sents[: params.eval_limit]
    if repairs:
        ctx.echo(f"{repairs} IOB2 repair(s) in the training data (I- tag not continuing an entity -> B-)")

    # 2. the model: the parent encoder plus a fresh classifier over the data's labels
    device, dtype = models.device_dtype(recipe.train)
    tokenizer, _ = models.load_tokenizer(parent, [])
    model = models.place(build_model(parent.path, labels, recipe.lora, dtype), device)
    if params.freeze_embeddings and recipe.lora is None:
        model.get_input_embeddings().weight.requires_grad_(False)

    # 3. features: first-subword labels over windows of whole words
    label2id = {l: i for i, l in enumerate(labels)}
    seq = recipe.train.seq_length
    train_feats = encode_corpus(tokenizer, train_sents, label2id, seq)
    eval_feats = encode_corpus(tokenizer, eval_sents, label2id, seq)
    ctx.echo(f"{len(train_sents)} training sentences -> {len(train_feats)} windows; labels {labels}")

    # 4. train (under the time budget, if any), save, describe where it came from
    from transformers import DataCollatorForTokenClassification

    budget = time_budget(params.time_budget_s, recipe.train.warmup)
    if budget is not None:
        ctx.callbacks = [*ctx.callbacks, budget]
    stats = train(recipe, ctx, model, tokenizer, train_feats, eval_feats, DataCollatorForTokenClassification(tokenizer))
    save_variant(model, tokenizer, ctx.output, seq, trainer=ctx.trainer)
    if recipe.lora is not None:  # the base has no head: the adapter carries the label set
        (ctx.output / LABELS_FILE).write_text(json.dumps(labels))
    td = TrainingData(train=[Example(f"{s.line}", "") for s in train_sents],
                      eval=[Example(f"{s.line}", "") for s in eval_sents], files=files)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return outcome(recipe, ctx, parent, "encoder", td, stats,
                   {"objective": "token_classification", "labels": labels, "adapter": "lora" if recipe.lora else None,
                    "trainable_params": trainable, "iob2_repairs": repairs, "train_windows": len(train_feats),
                    "time_budget_s": params.time_budget_s})
