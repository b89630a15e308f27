"""Masked-LM loss computed only where the loss reads it: the vocabulary head and most of the last layer.

HF's ``BertForMaskedLM`` (and RoBERTa's) project every position to the vocabulary, then the loss
ignores all but the ~15% that are masked: at MiniLM's size (hidden 384, vocab 30k) that projection
and its softmax are most of the step. ``sparse_mlm(model)`` replaces the model's forward (this
instance only) with: embeddings -> encoder layers but the last -> the last layer at the masked
positions only (keys and values from every position; queries, attention, the attention output
projection + LayerNorm and the feed-forward only at positions with ``labels != -100``) -> MLM head
-> cross-entropy. The last layer runs through the model's own modules (its dropouts, scaling and
head count), with the padding keys excluded as the stock attention mask does.

That last-layer step is taken only for the structures it was written against (transformers'
``BertModel``/``RobertaModel`` encoders, no decoder/cross-attention, no extra inputs such as
``output_hidden_states``); any other masked LM with a known head gets the head-only version (full
encoder, head at masked positions). The loss is the same (mean over masked tokens); weights,
``save_pretrained`` and the forward without labels (full logits) are unchanged. With labels,
``logits`` are those of the masked positions only ([n_masked, vocab]).
"""

from __future__ import annotations

import contextlib
import types

# kwargs the sparse forward may drop: Trainer passes num_items_in_batch to any forward taking **kwargs,
# and the stock MLM loss ignores it too (it is a plain mean over the masked tokens)
_IGNORED = {"num_items_in_batch"}
_EMBEDDING_INPUTS = ("token_type_ids", "position_ids", "inputs_embeds")


def _parts(model):
    """(encoder, head) of a masked LM whose head maps hidden states to vocabulary logits; None if unknown."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, "cls", None) or getattr(model, "lm_head", None)
    return (base, head) if base is not None and head is not None else None


def _known_classes():
    """(encoder classes, layer classes, self-attention classes) whose code the last-layer path mirrors."""
    from transformers.models.bert import modeling_bert as b
    from transformers.models.roberta import modeling_roberta as r

    return ((b.BertModel, r.RobertaModel), (b.BertLayer, r.RobertaLayer),
            (b.BertSelfAttention, r.RobertaSelfAttention))


def _sparse_last_layer(base) -> bool:
    """Whether ``base`` is an encoder whose last layer :func:`_last_layer_at` computes exactly."""
    try:
        models, layers, attentions = _known_classes()
    except ImportError:
        return False
    cfg = base.config
    if type(base) not in models or cfg.is_decoder or getattr(cfg, "add_cross_attention", False):
        return False
    stack = base.encoder.layer
    if len(stack) == 0:
        return False
    last = stack[-1]
    return (type(last) in layers and type(last.attention.self) in attentions
            and not last.attention.is_cross_attention and not hasattr(last, "crossattention"))


def _encode(base, input_ids, attention_mask, labels, token_type_ids=None, position_ids=None, inputs_embeds=None):
    """Hidden states after the last layer at the positions ``labels != -100`` ([n_masked, hidden], row-major order,
    as ``hidden[labels != -100]``): BertModel.forward up to the last layer, then that layer at the masked rows."""
    hidden = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                             inputs_embeds=inputs_embeds)
    mask, _ = base._create_attention_masks(**_mask_kwargs(base, attention_mask, hidden, position_ids))
    *stack, last = base.encoder.layer
    for layer in stack:  # as BertEncoder.forward calls them (gradient checkpointing included); no KV cache
        hidden = layer(hidden, mask, None, encoder_attention_mask=None, position_ids=position_ids)
    return _last_layer_at(last, hidden, attention_mask, labels != -100)


def _mask_kwargs(base, attention_mask, hidden, position_ids) -> dict:
    """The arguments of ``BertModel._create_attention_masks`` as the installed transformers names them: the KV cache
    (none here) is ``past_key_values`` before 5.24 and ``cache`` after; 5.25 added ``position_ids``."""
    import inspect

    names = inspect.signature(base._create_attention_masks).parameters
    kwargs = {"attention_mask": attention_mask, "encoder_attention_mask": None, "embedding_output": hidden,
              "encoder_hidden_states": None}
    kwargs.update({name: None for name in ("cache", "past_key_values") if name in names})
    if "position_ids" in names:
        kwargs["position_ids"] = position_ids
    return kwargs


def _last_layer_at(layer, hidden, attention_mask, where):
    """BertLayer.forward(hidden, mask)[where]: queries and everything after them only at ``where``."""
    import torch
    import torch.nn.functional as F

    attn = layer.attention.self
    batch, seq, _ = hidden.shape
    counts = where.sum(1)
    width = int(counts.max())
    # each row's masked positions first, in position order, padded to the batch's largest count
    order = torch.sort((~where).to(torch.int8), dim=1, stable=True).indices[:, :width]
    real = torch.arange(width, device=hidden.device) < counts[:, None]  # [batch, width]: not padding
    rows = hidden.gather(1, order[..., None].expand(-1, -1, hidden.size(-1)))  # [batch, width, hidden]

    def heads(x):
        return x.view(x.size(0), x.size(1), -1, attn.attention_head_size).transpose(1, 2)

    q, k, v = heads(attn.query(rows)), heads(attn.key(hidden)), heads(attn.value(hidden))
    keys = None
    if attention_mask is not None:  # padding keys excluded; a row with no real key attends to all, as the
        keys = attention_mask.bool()  # stock additive mask then gives (uniform weights, not NaN)
        keys = (keys | ~keys.any(1, keepdim=True))[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, scale=attn.scaling,
                                         dropout_p=attn.dropout.p if attn.training else 0.0)
    out = out.transpose(1, 2).reshape(batch, width, -1)[real]  # padding queries dropped: [n_masked, hidden]
    out = layer.attention.output(out, rows[real])
    return layer.feed_forward_chunk(out)


@contextlib.contextmanager
def _row_gradients(model):
    """While the encoder runs: the input embedding's gradient as rows (a sparse tensor: the batch's tokens) instead
    of a dense [vocab, hidden] one, when the vocabulary head shares that matrix (tied). The head's gradient is
    dense and comes first (the head runs last), and the rows are added to it: the same sum, without
    zero-filling and adding another [vocab, hidden] matrix each step (11% of MiniLM's sparse step). Untied,
    the embedding keeps its dense gradient (optimizers such as AdamW refuse sparse ones)."""
    emb, out = model.get_input_embeddings(), model.get_output_embeddings()
    tied = out is not None and getattr(emb, "weight", None) is getattr(out, "weight", False) and hasattr(emb, "sparse")
    if not tied or emb.sparse:
        yield
        return
    emb.sparse = True  # read when the embedding runs: only this forward's graph has row gradients
    try:
        yield
    finally:
        emb.sparse = False


def sparse_mlm(model):
    """Make ``model`` compute its MLM head (and, for BERT/RoBERTa encoders, the last layer after its keys and values)
    only at masked positions; returns it; unknown models unchanged."""
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
        where = labels != -100
        inputs = {k: v for k, v in kwargs.items() if k not in _IGNORED and v is not None and v is not False}
        with _row_gradients(self):
            if (_sparse_last_layer(base) and bool(where.any()) and set(inputs) <= set(_EMBEDDING_INPUTS)
                    and (attention_mask is None or attention_mask.dim() == 2)):
                hidden = _encode(base, input_ids, attention_mask, labels, **inputs)
            else:  # head only: the full encoder, then its states at the masked positions
                hidden = base(input_ids=input_ids, attention_mask=attention_mask, return_dict=True, **kwargs)[0][where]
        logits = head(hidden)
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
