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
            assert torch.allclose(p.grad, q.grad, atol=1e-5), name
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
