"""Full fine-tuning: every weight of the parent is trained.

Language-model text (plain or tagged records) trains the causal LM objective on packed
sequences, or the masked-LM objective for an encoder; QA examples train the answer tokens only.
"""

from __future__ import annotations

from harness.errors import ConfigError
from tuning import features, models
from tuning.lineage import outcome
from tuning.train import complete_data, read_data, save_variant, train


def run(recipe, ctx):
    return train_full(recipe, ctx)


def train_full(recipe, ctx):
    # 1. what to tune and on what: file errors surface here, before a model is loaded
    parent = models.resolve_parent(recipe, ctx.store)
    td = read_data(recipe, ctx)
    device, dtype = models.device_dtype(recipe.train)

    # 2. the model: record tags become special tokens, the embeddings grow to fit them
    tokenizer, added = models.load_tokenizer(parent, td.special_tokens)
    if parent.kind == "encoder":
        if any(e.answer is not None for e in td.train):
            raise ConfigError(f"data.format {recipe.data.format}: QA tuning needs a causal base, {parent.name} is an encoder")
        model = models.place(models.load_masked_lm(parent, tokenizer, dtype), device)
    else:
        model = models.place(models.load_causal(parent, tokenizer, dtype), device)
    complete_data(recipe, ctx, td, parent, model, tokenizer)  # replay (may generate with the parent), canaries

    # 3. features: packed LM blocks (causal), masked blocks (encoder), or answer-only QA rows
    seq = recipe.train.seq_length
    if parent.kind == "encoder":
        make, collator = features.masked_features, features.mlm_collator(tokenizer, recipe.train.mlm_probability)
    else:
        make, collator = features.causal_features, features.PadCollator(tokenizer.pad_token_id)
    train_feats, eval_feats = make(tokenizer, td.train, seq), make(tokenizer, td.eval, seq)

    # 4. train, save an ordinary HF directory, describe where it came from
    stats = train(recipe, ctx, model, tokenizer, train_feats, eval_feats, collator)
    save_variant(model, tokenizer, ctx.output, seq, trainer=ctx.trainer)
    kind = "encoder" if parent.kind == "encoder" else "causal"
    return outcome(recipe, ctx, parent, kind, td, stats,
                   {"objective": "masked_lm" if kind == "encoder" else "causal_lm",
                    "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
                    "train_tokens_per_epoch": features.count_tokens(train_feats)})
