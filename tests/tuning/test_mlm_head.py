"""The sparse MLM head: the stock masked-LM loss and gradients, computed at masked positions only."""

from __future__ import annotations

import copy

import pytest


def test_same_loss_and_grads_as_the_stock_head(tiny_encoder):
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForMaskedLM

    from tuning.mlm_head import sparse_mlm

    torch.manual_seed(0)
    stock = AutoModelForMaskedLM.from_pretrained(tiny_encoder)
    ours = sparse_mlm(copy.deepcopy(stock))
    ids = torch.randint(5, stock.config.vocab_size, (3, 24))
    mask = torch.ones_like(ids)
    mask[2, 18:] = 0
    labels = torch.full_like(ids, -100)
    pick = torch.rand(ids.shape) < 0.2
    pick[0, 0] = True
    labels[pick] = ids[pick]
    a = stock(input_ids=ids, attention_mask=mask, labels=labels)
    b = ours(input_ids=ids, attention_mask=mask, labels=labels)
    assert abs(a.loss.item() - b.loss.item()) < 1e-5
    assert b.logits.shape == (int(pick.sum()), stock.config.vocab_size)
    a.loss.backward()
    b.loss.backward()
    for (name, p), q in zip(stock.named_parameters(), ours.parameters()):
        if p.grad is not None:
            assert q.grad.layout == torch.strided, name  # dense, as optimizers need
            assert torch.allclose(p.grad, q.grad, atol=1e-5), name
    # tied head: the embedding's gradient came as rows, for that forward only
    assert ours.get_output_embeddings().weight is ours.get_input_embeddings().weight
    assert ours.get_input_embeddings().sparse is False
    full = ours(input_ids=ids, attention_mask=mask)  # no labels: the stock forward, every position
    assert full.logits.shape == (3, 24, stock.config.vocab_size)


def test_dapt_trains_an_encoder_with_the_sparse_head(tiny_encoder, tune_recipe, monkeypatch):
    from tuning import mlm_head

    seen = []
    real = mlm_head.sparse_mlm
    monkeypatch.setattr(mlm_head, "sparse_mlm", lambda m: seen.append(m) or real(m))
    out = tune_recipe("ner_dapt_minilm", tiny_encoder, name="enc-dapt", data__files=["corpus/bio.txt"],
                      data__limit=40, data__eval_size=4)
    assert seen and seen[0]._sparse_mlm
    assert out is not None


def _tiny_mlm(kind="bert", dropout=0.1, attn="eager"):
    import torch
    from transformers import BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM

    torch.manual_seed(0)
    config, cls = (BertConfig, BertForMaskedLM) if kind == "bert" else (RobertaConfig, RobertaForMaskedLM)
    cfg = config(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                 max_position_embeddings=64, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                 pad_token_id=1, initializer_range=0.3, attn_implementation=attn)  # peaked attention, not ~uniform
    return cls(cfg)


def _batch():
    """4 rows of 20: padding in rows 2 and 3, masked counts 7, 0, 2 and 1 (row 1 has none)."""
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 97, (4, 20), generator=g)
    mask = torch.ones_like(ids)
    mask[2, 12:] = 0
    mask[3, 5:] = 0
    ids[mask == 0] = 1
    labels = torch.full_like(ids, -100)
    for row, cols in {0: [0, 3, 4, 9, 10, 15, 19], 2: [2, 11], 3: [4]}.items():
        labels[row, cols] = torch.randint(5, 97, (len(cols),), generator=g)
    return ids, mask, labels


def _differences(stock, ours, train=False):
    """(|loss difference|, largest |gradient difference| over every parameter) of stock and ours on _batch()."""
    import torch

    ids, mask, labels = _batch()
    stock.train(train), ours.train(train)
    a = stock(input_ids=ids, attention_mask=mask, labels=labels)
    b = ours(input_ids=ids, attention_mask=mask, labels=labels)
    a.loss.backward()
    b.loss.backward()
    worst = 0.0
    for (name, p), (_, q) in zip(stock.named_parameters(), ours.named_parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            worst = max(worst, (p.grad - q.grad).abs().max().item())
    assert b.logits.shape == (int((labels != -100).sum()), stock.config.vocab_size)
    return abs(a.loss.item() - b.loss.item()), worst


def _rows_through_last_ffn(model):
    """How many rows the last layer's feed-forward sees in one labelled forward of _batch()."""
    seen = []
    layer = model.base_model.encoder.layer[-1]
    hook = layer.intermediate.register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    ids, mask, labels = _batch()
    try:
        model(input_ids=ids, attention_mask=mask, labels=labels)
    finally:
        hook.remove()
    return sum(s[:-1].numel() for s in seen)


@pytest.mark.parametrize("kind", ["bert", "roberta"])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("mode", ["eval", "train without dropout"])
def test_sparse_last_layer_same_loss_and_grads_as_stock(kind, attn, mode):
    pytest.importorskip("torch")
    from tuning.mlm_head import sparse_mlm

    train = mode != "eval"
    stock = _tiny_mlm(kind, dropout=0.0 if train else 0.1, attn=attn)
    ours = sparse_mlm(copy.deepcopy(stock))
    assert _rows_through_last_ffn(ours) == 10  # the masked positions only: the sparse last layer ran
    assert _rows_through_last_ffn(stock) == 80
    loss, grad = _differences(stock, ours, train=train)
    assert loss < 1e-5 and grad < 1e-5, (loss, grad)


def test_sparse_last_layer_keeps_stock_dense_forward_and_weights():
    torch = pytest.importorskip("torch")
    from tuning.mlm_head import sparse_mlm

    stock = _tiny_mlm().eval()
    ours = sparse_mlm(copy.deepcopy(stock)).eval()
    ids, mask, _ = _batch()
    a, b = stock(input_ids=ids, attention_mask=mask), ours(input_ids=ids, attention_mask=mask)
    assert torch.equal(a.logits, b.logits)
    assert stock.state_dict().keys() == ours.state_dict().keys()


@pytest.mark.parametrize("wrong", ["padding keys attended", "queries from the first positions", "attention scale 1"])
def test_the_comparison_catches_a_wrong_last_layer(wrong, monkeypatch):
    """The equality tests compare with the stock model: a last layer that is wrong in one detail fails them."""
    torch = pytest.importorskip("torch")
    from tuning import mlm_head

    real = mlm_head._last_layer_at

    def broken(layer, hidden, attention_mask, where):
        if wrong == "padding keys attended":
            return real(layer, hidden, None, where)
        if wrong == "queries from the first positions":  # right count per row, wrong positions
            first = torch.arange(where.size(1)) < where.sum(1, keepdim=True)
            return real(layer, hidden, attention_mask, first)
        with torch.no_grad():  # attention scaled by 1 instead of head_size ** -0.5
            layer.attention.self.scaling = 1.0
        return real(layer, hidden, attention_mask, where)

    monkeypatch.setattr(mlm_head, "_last_layer_at", broken)
    stock = _tiny_mlm()
    loss, grad = _differences(stock, mlm_head.sparse_mlm(copy.deepcopy(stock)))
    assert loss > 1e-3 or grad > 1e-3, (loss, grad)  # far outside the 1e-5 the equality tests allow


def test_unknown_layer_falls_back_to_the_sparse_head_only():
    pytest.importorskip("torch")
    from transformers.models.bert.modeling_bert import BertLayer

    from tuning.mlm_head import sparse_mlm

    class OtherLayer(BertLayer):  # a structure the last-layer path was not written for
        pass

    stock = _tiny_mlm()
    stock.bert.encoder.layer[-1].__class__ = OtherLayer
    ours = sparse_mlm(copy.deepcopy(stock))
    assert _rows_through_last_ffn(ours) == 80  # the whole last layer, as stock
    loss, grad = _differences(stock, ours)
    assert loss < 1e-5 and grad < 1e-5, (loss, grad)
