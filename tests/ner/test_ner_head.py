"""ner_head on the tiny encoder: first-subword labels, full and LoRA variants, lineage, budget."""

from __future__ import annotations

import pytest

from harness import contract
from harness.errors import ConfigError, DataError
from harness.models import load, resolve
from harness.store import Store
from harness.store.variants import get_variant
from suites.ner.conll import read_conll
from tuning.methods.ner_head import encode_corpus


def test_only_first_subwords_carry_labels(tiny_encoder, ner_data):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    sents = read_conll(ner_data / "ner" / "ncbi_disease" / "train.tsv").sentences[:5]
    label2id = {"O": 0, "B-Disease": 1, "I-Disease": 2}
    feats = encode_corpus(tok, sents, label2id, max_length=16)  # small windows: sentences are split
    assert len(feats) > len(sents)
    labelled = [l for f in feats for l in f["labels"] if l != -100]
    assert labelled == [label2id[t] for s in sents for t in s.tags]  # one label per word, in order
    for f in feats:
        assert f["labels"][0] == -100 and f["labels"][-1] == -100 and len(f["input_ids"]) <= 16


def test_full_head_trains_registers_and_evaluates(tmp_path, tiny_encoder, tune_ner):
    out = tune_ner("ner_head_ncbi", tiny_encoder, name="tiny-ner")
    row = get_variant(Store(tmp_path / "results.duckdb"), "tiny-ner")
    assert row["method"] == "ner_head" and row["parent"] == "tiny-bert" and row["kind"] == "encoder"
    lin = row["lineage"]
    assert lin["labels"] == ["O", "B-Disease", "I-Disease"] and lin["objective"] == "token_classification"
    assert {f["role"] for f in lin["data_files"]} == {"train", "eval"} and lin["n_train_examples"] == 40
    lm = load(resolve(out.path), device="cpu")
    words = ["Familial", "breast", "cancer", "."]
    assert len(lm.token_labels([contract.token_labels(0, words)])[0]) == 4


def test_lora_head_saves_adapter_with_labels(tmp_path, tiny_encoder, tune_ner):
    out = tune_ner("ner_lora_ncbi", tiny_encoder, name="tiny-ner-lora", lora__target_modules=["query", "value"])
    assert (tmp_path / "variants" / "tiny-ner-lora" / "ner_labels.json").exists()
    ref = resolve(out.path)
    assert ref.adapter and ref.kind == "encoder"
    lm = load(ref, device="cpu")
    assert lm.labels == ["O", "B-Disease", "I-Disease"]
    trained = lm.model.base_model.model.classifier.modules_to_save["default"].weight
    assert lm.token_labels([contract.token_labels(0, ["fever"])])[0][0] in lm.labels and trained.shape[0] == 3
    with pytest.raises(ConfigError, match="needs a full-weight encoder parent"):
        tune_ner("ner_head_ncbi", out.path, name="on-adapter")


def test_time_budget_stops_training(tmp_path, tiny_encoder, tune_ner):
    out = tune_ner("ner_head_ncbi", tiny_encoder, name="budget", train__max_steps=50, params__time_budget_s=0.001)
    assert out.lineage["stopped_early"] and out.lineage["time_budget_s"] == 0.001


def test_bad_training_data(tmp_path, tiny_encoder, tune_ner, ner_data):
    bad = tmp_path / "bad.tsv"
    bad.write_text("fever\tB-Disease\nx\tB-Gene\tO\n")
    with pytest.raises(DataError, match=r"bad\.tsv:2: expected 2"):
        tune_ner("ner_head_ncbi", tiny_encoder, name="bad", data__files=[str(bad)])
    with pytest.raises(ConfigError, match="data.format conll"):
        tune_ner("ner_head_ncbi", tiny_encoder, name="bad2", data__format="text")


def test_head_on_a_masked_lm_parent(tmp_path, tiny_encoder, tune_ner, ner_data):
    """The DAPT variant's chain: an encoder after masked-LM pretraining (a *ForMaskedLM checkpoint) + NER head."""
    corpus = ner_data / "corpus.txt"
    corpus.write_text("Familial breast cancer is associated with BRCA1 mutations.\n" * 20)
    dapt = tune_ner("ner_dapt_minilm", tiny_encoder, name="tiny-dapt", data__files=[str(corpus)], data__limit=None,
                    data__eval_size=4, ner_params=False)
    ner = tune_ner("ner_dapt_head_ncbi", dapt.path, name="tiny-dapt-ner")
    assert ner.parent == "tiny-dapt" and ner.lineage["labels"] == ["O", "B-Disease", "I-Disease"]
    assert load(resolve(ner.path), device="cpu").labels == ["O", "B-Disease", "I-Disease"]
