"""Intermediate (domain-adaptive) pretraining: full weights on a domain corpus.

Causal LM for decoders (packed sequences), masked LM for encoders (a fresh MLM head where the
checkpoint has none); plain text, or structured records serialised with tags that join the
tokenizer as special tokens (e.g. ICD-10 rows as ``<icd code="A00.0">Cholera ...</icd>``).
"""

from __future__ import annotations

from harness.errors import ConfigError
from tuning.methods.full import train_full
from tuning.mlm_head import sparse_mlm_loading


def run(recipe, ctx):
    if recipe.data.format not in ("text", "icd10"):
        raise ConfigError(f"method dapt trains on a corpus (data.format text or icd10), not {recipe.data.format!r}; "
                          "use method sft for QA")
    with sparse_mlm_loading():  # encoders: the vocabulary head only at masked positions (tuning/mlm_head.py)
        return train_full(recipe, ctx)
