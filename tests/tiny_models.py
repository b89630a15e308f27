"""Tiny, deterministic models for tests: a 2-layer Llama and a 2-layer BERT, with small
tokenizers trained on a slice of real text. Built in a second or two, saved as HF dirs."""

from __future__ import annotations

from pathlib import Path

TEXT = [
    "Question: A 45-year-old man presents with chest pain radiating to the left arm.",
    "Answer: myocardial infarction. The patient was treated with aspirin and heparin.",
    "Abstract: Mitochondria play a role in programmed cell death in lace plant leaves.",
    "Do statins reduce mortality in patients with heart failure? yes no maybe",
    "The following are multiple choice questions (with answers) about anatomy.",
    "Identification of APC2, a homologue of the adenomatous polyposis coli tumour suppressor.",
    "Hereditary breast and ovarian cancer is associated with BRCA1 mutations in families.",
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France.",
] * 4


def _train_bpe(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TEXT, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", model_max_length=2048)


def _train_wordpiece(vocab_size: int = 400):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(TEXT, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)


def make_tiny_causal(path: Path, seed: int = 0, hidden_size: int = 32, intermediate_size: int = 64) -> Path:
    """The tiny Llama; ``hidden_size=64, intermediate_size=128`` gives every Linear layer shapes that
    bitsandbytes' 4-bit CPU kernels support (in_features % 64 == 0, out_features % 32 == 0)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _train_bpe()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=intermediate_size, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def make_tiny_encoder(path: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    tok = _train_wordpiece()
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path
