"""hf-causal where its users run it: transformers 5.17 .. 5.2x (KV cache keyword), models spread over
several GPUs (index tensors on the indexed tensor's device), and batches that do not fit in GPU memory."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from harness.contract import Request
from harness.models.hf_causal import HFCausalLM, cache_keyword, index_for, output_cache, select_cache_rows
from harness.models.registry import ModelRef
from tests.tiny_models import TEXT

STEMS = ["Question: A 45-year-old man presents with chest pain radiating to the left arm.\nAnswer:",
         "Do statins reduce mortality in patients with heart failure?", "Paris is the capital of",
         "Abstract: Mitochondria play a role in programmed cell death.", "The quick brown fox",
         "Hereditary breast and ovarian cancer is associated with", "", "Identification of APC2, a homologue of"]
OPTIONS = [" myocardial infarction", " aspirin and heparin", " yes", " the lazy dog sleeps"]


def _mc_requests() -> list[Request]:
    return [Request("loglikelihood", i, 0, (s, o)) for i, (s, o) in enumerate((s, o) for s in STEMS for o in OPTIONS)]


def _gen_requests() -> list[Request]:  # different budgets: rows leave the batch (and the cache) at different steps
    return [Request("generate_until", i, 0, (p, (), n)) for i, (p, n) in enumerate(
        zip(["Patient presents with", "Paris is", "The quick brown", "Do statins", "Answer:"], [3, 9, 5, 12, 7]))]


def _load(path, **kw) -> HFCausalLM:
    return HFCausalLM(ModelRef("tiny", str(path), "causal"), device="cpu", dtype="float32", **kw)


@pytest.fixture(scope="module")
def reference(tiny_causal):
    lm = _load(tiny_causal, batch_size=8)
    rolling = [Request("loglikelihood_rolling", i, 0, (t,)) for i, t in enumerate(TEXT[:4])]
    return {"mc": lm.loglikelihood(_mc_requests()), "gen": lm.generate_until(_gen_requests()),
            "rolling": lm.loglikelihood_rolling(rolling), "rolling_reqs": rolling}


def _same(a, b):
    assert [(r.n_tokens, r.is_greedy) for r in a] == [(r.n_tokens, r.is_greedy) for r in b]
    np.testing.assert_allclose([r.logprob for r in a], [r.logprob for r in b], rtol=1e-5, atol=1e-6)


# -- A. the KV cache keyword: past_key_values (transformers 5.17 .. 5.23) or cache (5.24+) ----------------
def test_cache_keyword_is_read_from_the_forward_signature(monkeypatch):
    import transformers

    class Old(torch.nn.Module):
        def forward(self, input_ids=None, past_key_values=None, use_cache=None, **kwargs): ...

    class New(torch.nn.Module):
        def forward(self, input_ids=None, cache=None, use_cache=None, **kwargs): ...

    class Remote(torch.nn.Module):
        def forward(self, *args, **kwargs): ...

    assert cache_keyword(Old()) == "past_key_values" and cache_keyword(New()) == "cache"
    monkeypatch.setattr(transformers, "__version__", "5.17.0")
    assert cache_keyword(Remote()) == "past_key_values"
    monkeypatch.setattr(transformers, "__version__", "5.24.0")
    assert cache_keyword(Remote()) == "cache"


def test_cache_keyword_of_the_installed_transformers(tiny_causal):
    import transformers
    from packaging.version import Version

    lm = _load(tiny_causal, batch_size=2)
    assert lm.cache_kw == ("cache" if Version(transformers.__version__).release >= (5, 24) else "past_key_values")
    out = lm.decoder(input_ids=torch.tensor([[1, 2, 3]]), use_cache=True)
    assert output_cache(out).get_seq_length() == 3


def _transformers_5_17_api(decoder):
    """The decoder's forward as transformers 5.17 .. 5.23 has it: the cache keyword is ``past_key_values``, the
    output's field too; an unknown keyword (``cache``) falls into ``**kwargs`` and is ignored, as there."""
    new = type(decoder).forward

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, **kwargs):
        out = new(self, input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                  cache=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache)
        return types.SimpleNamespace(last_hidden_state=out.last_hidden_state, past_key_values=out.cache)

    decoder.forward = types.MethodType(forward, decoder)


def test_scores_and_generates_through_the_transformers_5_17_cache_keyword(tiny_causal, reference):
    from transformers import LlamaModel

    if cache_keyword(LlamaModel) != "cache":
        pytest.skip("the installed transformers is older than 5.24: its own API is the one under test")
    from transformers import AutoModelForCausalLM

    from harness.models.hf_load import load_tokenizer

    ref = ModelRef("tiny", str(tiny_causal), "causal")
    model = AutoModelForCausalLM.from_pretrained(tiny_causal, dtype=torch.float32).eval()
    _transformers_5_17_api(model.model)
    lm = HFCausalLM(ref, device="cpu", dtype="float32", batch_size=8, model=model, tokenizer=load_tokenizer(ref))
    assert lm.cache_kw == "past_key_values"
    _same(lm.loglikelihood(_mc_requests()), reference["mc"])
    assert lm.generate_until(_gen_requests()) == reference["gen"]


# -- C. --device-map auto: index tensors on the device of what they index ----------------------------------
class _Layer:
    def __init__(self, device):
        self.keys = torch.empty(3, 2, 4, 8, device=device)
        self.got = None

    def batch_select_indices(self, indices):
        assert indices.device == self.keys.device, "index on another device than the cache layer"
        self.got = indices


def test_cache_rows_are_selected_with_an_index_on_each_layers_device():
    """Layers 0-1 on one device, 2-3 on another (meta stands in for a second GPU): each gets the index on its
    own device, copied once per device."""
    layers = [_Layer("cpu"), _Layer("cpu"), _Layer("meta"), _Layer("meta")]
    select_cache_rows(types.SimpleNamespace(layers=layers), torch.tensor([2, 0]))
    assert [layer.got.device.type for layer in layers] == ["cpu", "cpu", "meta", "meta"]
    assert layers[2].got is layers[3].got and layers[0].got.tolist() == [2, 0]
    assert index_for([1, 2], torch.empty(1, device="meta")).device.type == "meta"


def test_cache_row_selection_keeps_the_chosen_rows(tiny_causal):
    lm = _load(tiny_causal, batch_size=2)
    cache = output_cache(lm.decoder(input_ids=torch.tensor([[5, 6, 7], [8, 9, 10], [11, 12, 13]]), use_cache=True))
    before = [layer.keys.clone() for layer in cache.layers]
    select_cache_rows(cache, torch.tensor([2, 0, 0]))
    for old, layer in zip(before, cache.layers):
        assert torch.equal(layer.keys, old[[2, 0, 0]])


def test_scoring_and_generation_select_cache_rows_per_layer(tiny_causal, reference, monkeypatch):
    """The whole-cache method (one index for every layer, wherever they are) is never used."""
    from transformers import DynamicCache

    def whole_cache(self, indices):
        raise AssertionError("Cache.batch_select_indices: one index device for layers on several devices")

    monkeypatch.setattr(DynamicCache, "batch_select_indices", whole_cache)
    lm = _load(tiny_causal, batch_size=8)
    _same(lm.loglikelihood(_mc_requests()), reference["mc"])
    assert lm.generate_until(_gen_requests()) == reference["gen"]


@pytest.mark.gpu
def test_layers_over_two_gpus_score_and_generate_as_on_one(tmp_path):
    """--device-map auto over two GPUs: embeddings and layer 0 on cuda:0, layer 1, the norm and the LM head on
    cuda:1 (the KV cache of layer 1 too); results as on one GPU."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    from accelerate import dispatch_model
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from harness.models.hf_load import load_tokenizer
    from tests.tiny_models import _train_bpe

    tok = _train_bpe()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    ref = ModelRef("tiny", str(tmp_path), "causal")
    one = HFCausalLM(ref, device="cuda:0", dtype="float32", batch_size=8)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    model = dispatch_model(model, device_map={"model.embed_tokens": 0, "model.rotary_emb": 0, "model.layers.0": 0,
                                              "model.layers.1": 1, "model.norm": 1, "lm_head": 1})
    two = HFCausalLM(ref, device="cuda:0", dtype="float32", batch_size=8, model=model, tokenizer=load_tokenizer(ref))
    _same(two.loglikelihood(_mc_requests()), one.loglikelihood(_mc_requests()))
    assert two.generate_until(_gen_requests()) == one.generate_until(_gen_requests())
    sampled = [Request("generate_until", i, 0, (p, (), 8, (("do_sample", True), ("seed", 1))))
               for i, p in enumerate(["Paris is", "The quick"])]
    assert all(isinstance(t, str) for t in two.generate_until(sampled))


# -- D. batch size: the probe runs the real scoring path; a batch out of memory is halved and retried --------
def _oom_above(lm, monkeypatch, rows: int) -> list[int]:
    """The decoder raises CUDA's out-of-memory error on a batch of more than ``rows`` sequences."""
    real, seen = lm.decoder.forward, []

    def forward(*args, **kwargs):
        n = kwargs["input_ids"].shape[0]
        seen.append(n)
        if n > rows:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (simulated: {n} rows)")
        return real(*args, **kwargs)

    monkeypatch.setattr(lm.decoder, "forward", forward)
    return seen


def test_a_batch_out_of_memory_is_halved_and_gives_the_same_results(tiny_causal, reference, monkeypatch):
    lm = _load(tiny_causal, batch_size=8)
    seen = _oom_above(lm, monkeypatch, rows=8)  # 2 questions x 4 options fit, 3+ do not
    _same(lm.loglikelihood(_mc_requests()), reference["mc"])
    assert max(seen) > 8 and lm.batch_size == 2 and lm.info.extra["batch_size"] == 2  # kept, and recorded
    assert lm.generate_until(_gen_requests()) == reference["gen"]

    lm = _load(tiny_causal, batch_size=8)
    _oom_above(lm, monkeypatch, rows=3)
    assert lm.generate_until(_gen_requests()) == reference["gen"] and lm.batch_size == 2
    rolled = lm.loglikelihood_rolling(reference["rolling_reqs"])
    np.testing.assert_allclose([r.logprob for r in rolled], [r.logprob for r in reference["rolling"]], rtol=1e-5)


def test_out_of_memory_with_a_batch_of_one_is_a_clear_error(tiny_causal, monkeypatch):
    from harness.errors import MedtuneError

    lm = _load(tiny_causal, batch_size=4)
    _oom_above(lm, monkeypatch, rows=0)
    with pytest.raises(MedtuneError, match="out of GPU memory with a batch of one"):
        lm.loglikelihood(_mc_requests()[:4])


def test_the_probe_measures_the_real_scoring_call(tiny_causal, monkeypatch):
    """KV cache, per-option cache copies and the vocabulary log-softmax at the probe length; halving from 128."""
    lm = _load(tiny_causal, batch_size=1)
    lm.PROBE_TOKENS = 64
    seen = _oom_above(lm, monkeypatch, rows=16)  # the option pass has 4 rows per question: 4 questions fit
    softmax_rows, real = [], lm._hidden_to_logprobs

    def logprobs(hidden):
        softmax_rows.append(hidden.shape[0])
        return real(hidden)

    monkeypatch.setattr(lm, "_hidden_to_logprobs", logprobs)
    assert lm._probe_batch_size() == 4
    assert seen[:3] == [128, 64, 32] and 16 in seen  # 8 contexts prefill, then 32 option rows: too many
    assert softmax_rows == [4 * 4 * 8]  # 4 questions x 4 options x 8 tokens, over the whole vocabulary
