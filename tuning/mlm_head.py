"""Masked-LM loss with the vocabulary head applied only at the masked positions.

HF's ``BertForMaskedLM`` (and RoBERTa's) project every position to the vocabulary, then the loss
ignores all but the ~15% that are masked: at MiniLM's size (hidden 384, vocab 30k) that projection
and its softmax are most of the step. ``sparse_mlm(model)`` replaces the model's forward (this
instance only) with: encoder -> hidden states at positions with ``labels != -100`` -> MLM head ->
cross-entropy. The loss is the same (mean over masked tokens); weights, ``save_pretrained`` and the
forward without labels (full logits) are unchanged. With labels, ``logits`` are those of the masked
positions only ([n_masked, vocab]).
"""

from __future__ import annotations

import contextlib
import types


def _parts(model):
    """(encoder, head) of a masked LM whose head maps hidden states to vocabulary logits; None if unknown."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "cls", None) or getattr(model, "lm_head", None)
    return (base, head) if base is not None and head is not None else None


def sparse_mlm(model):
    """Make ``model`` compute its MLM head only at masked positions (returns it; unknown models unchanged)."""
    parts = _parts(model)
    if parts is None or getattr(model, "_sparse_mlm", False):
        return model
    base, head = parts
    dense = model.forward

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        import torch.nn.functional as F
        from transformers.modeling_outputs import MaskedLMOutput

        if labels is None:
            return dense(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        kwargs.pop("return_dict", None)
        hidden = base(input_ids=input_ids, attention_mask=attention_mask, return_dict=True, **kwargs)[0]
        where = labels != -100
        logits = head(hidden[where])
        loss = F.cross_entropy(logits.float(), labels[where])
        return MaskedLMOutput(loss=loss, logits=logits)

    model.forward = types.MethodType(forward, model)
    model._sparse_mlm = True
    return model


@contextlib.contextmanager
def sparse_mlm_loading():
    """While active, ``tuning.models.load_masked_lm`` returns models with the sparse MLM head."""
    from tuning import models

    load = models.load_masked_lm

    def patched(*args, **kwargs):
        return sparse_mlm(load(*args, **kwargs))

    models.load_masked_lm = patched
    try:
        yield
    finally:
        models.load_masked_lm = load
