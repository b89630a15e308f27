"""LoRA and QLoRA: low-rank adapters (peft) on a frozen parent; QLoRA freezes it in nf4 (bitsandbytes).

The output is a peft adapter directory whose ``base_model_name_or_path`` is the parent's local
folder, plus the tokenizer; tokens added to the vocabulary are trained and saved with the adapter.
"""

from __future__ import annotations

from tuning import features, models
from tuning.lineage import outcome
from tuning.train import complete_data, read_data, save_variant, train


def run(recipe, ctx):
    return train_adapter(recipe, ctx, quantize=False)


def run_qlora(recipe, ctx):
    return train_adapter(recipe, ctx, quantize=True)


def train_adapter(recipe, ctx, quantize: bool):
    # 1. what to tune and on what; bitsandbytes is tried on a tiny layer before the real load
    parent = models.resolve_parent(recipe, ctx.store)
    td = read_data(recipe, ctx)
    device, dtype = models.device_dtype(recipe.train)
    sharded = models.check_qlora_sharding(recipe.train, device, dtype) if quantize else None  # FSDP / ZeRO-3
    if quantize:
        models.check_bitsandbytes(device)

    # 2. the frozen parent (nf4 for QLoRA; its 4-bit weights stored as bf16 when sharded) with adapters on the
    #    named Linear modules
    tokenizer, added = models.load_tokenizer(parent, td.special_tokens)
    model = models.load_causal(parent, tokenizer, dtype, device, quantize=quantize, merge_adapter=False, sharded=sharded)
    quantised = models.keep_4bit_trainable(model) if quantize else []
    if not quantize:
        model = models.place(model, device)
    complete_data(recipe, ctx, td, parent, model, tokenizer)  # self-rehearsal uses the parent before LoRA
    model = models.add_lora(model, recipe.lora, added, quantized=quantize,
                            gradient_checkpointing=device.startswith("cuda"), sharded=sharded)

    # 3. features, train, save the adapter + tokenizer
    seq = recipe.train.seq_length
    train_feats = features.causal_features(tokenizer, td.train, seq)
    eval_feats = features.causal_features(tokenizer, td.eval, seq)
    stats = train(recipe, ctx, model, tokenizer, train_feats, eval_feats, features.PadCollator(tokenizer.pad_token_id))
    # with tokens added, the adapter carries the resized embeddings so the parent + adapter load as trained
    save_variant(model, tokenizer, ctx.output, seq, trainer=ctx.trainer, save_embedding_layers=bool(added))
    trainable, total = model.get_nb_trainable_parameters()
    return outcome(recipe, ctx, parent, "causal", td, stats,
                   {"objective": "causal_lm", "adapter": "qlora-nf4" if quantize else "lora",
                    "trainable_params": trainable, "total_params": total,
                    "train_tokens_per_epoch": features.count_tokens(train_feats),
                    **({"quantised_layers": len(quantised)} if quantize else {})})
