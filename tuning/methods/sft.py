"""Supervised task tuning: instruction-style QA on PubMedQA PQA-L's train ids (the 500 outside
the official test split, prompted as the ``pubmedqa`` suite asks), loss on the answer only.

Full weights by default; with a ``lora:`` block, a LoRA adapter. ``data.replay`` mixes in
general-domain text at a set ratio (rehearsal against forgetting); its default source is
``self`` (passages the parent generates), since the general-domain files under the data root
are the forgetting suite's eval sets and must not be trained on.
"""

from __future__ import annotations

from harness.errors import ConfigError
from tuning.methods.full import train_full
from tuning.methods.lora import train_adapter


def run(recipe, ctx):
    if recipe.data.format != "pubmedqa":
        raise ConfigError(f"method sft tunes on QA (data.format pubmedqa), not {recipe.data.format!r}; "
                          "use dapt for a corpus")
    if recipe.lora is not None:
        return train_adapter(recipe, ctx, quantize=False)
    return train_full(recipe, ctx)
