"""Tuning methods: one small module each, registered as ``"module:function"`` and imported only when used.

A method function is ``run(recipe: tuning.recipe.Recipe, ctx: tuning.train.TuneContext) ->
tuning.train.Outcome``; it reads top to bottom (load, data, model, train, save) using the shared
steps in ``tuning.train`` and ``tuning.data``. The CLI registers the outcome in the DB.
A module may define ``Params`` (a pydantic model) to validate the recipe's ``params:`` block.
"""

from __future__ import annotations

from harness.registry import Registry

METHODS = Registry("tuning method", {
    "dapt": "tuning.methods.dapt:run",    # intermediate (domain-adaptive) pretraining, full weights
    "full": "tuning.methods.full:run",    # full fine-tuning on any data (LM or QA)
    "sft": "tuning.methods.sft:run",      # supervised QA tuning (PubMedQA train) + optional replay
    "lora": "tuning.methods.lora:run",    # LoRA adapter (peft)
    "qlora": "tuning.methods.lora:run_qlora",  # LoRA on a bitsandbytes nf4 base
    "ner_head": "tuning.methods.ner_head:run",  # token classification (NER) on CoNLL files; LoRA with a lora: block
})


def get_method(name: str):
    return METHODS.get(name)


def method_params(name: str):
    """The method module's ``Params`` model, or None."""
    return getattr(METHODS.module(name), "Params", None)
