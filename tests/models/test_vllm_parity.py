"""The vllm backend scores the very tokens hf-causal scores, and puts its engine on the GPU asked for.

vLLM cannot run here (no CUDA, not installed): ``tests.models.fake_vllm`` stands in for it, answering vLLM's
``prompt_logprobs`` from the same tiny Llama hf-causal loads, so any difference in the results is a
difference in the token ids the two backends score.
"""

from __future__ import annotations

import os
import shutil

import pytest

from harness.contract import Request
from tests.models import fake_vllm

BOS_CHAT = ("<|endoftext|>{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")
INSIDE_WORD = [("The patient was treated with asp", "irin"), ("The patient was treated with hep", "arin and aspirin")]


@pytest.fixture(scope="module", params=["plain", "adds_bos"])
def model_dir(request, tiny_causal, tmp_path_factory):
    """The tiny Llama with its tokenizer as built (no BOS added), or one whose tokenizer adds BOS (as Llama's)."""
    if request.param == "plain":
        return tiny_causal
    from tokenizers import Tokenizer, processors

    path = tmp_path_factory.mktemp("models") / "tiny-llama-bos"
    shutil.copytree(tiny_causal, path)
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    bos = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", bos)])
    tok.save(str(path / "tokenizer.json"))
    return path


@pytest.fixture()
def backends(model_dir, monkeypatch):
    from harness.models.hf_causal import HFCausalLM
    from harness.models.registry import ModelRef
    from harness.models.vllm import VLLMCausalLM

    ref = ModelRef("tiny", str(model_dir), "causal")
    hf = HFCausalLM(ref, device="cpu", dtype="float32", batch_size=3)
    hf.tokenizer.chat_template = BOS_CHAT
    fake_vllm.install(monkeypatch)
    v = VLLMCausalLM(ref, device="cuda", dtype="float32")
    return hf, v, fake_vllm.LLM.created[-1]


def _requests(hf) -> list[Request]:
    chat = hf.apply_chat_template([{"role": "user", "content": "Do statins reduce mortality? yes no maybe"}])
    assert chat.startswith("<|endoftext|><|user|>")  # the template writes the BOS text itself
    pairs = [("The patient was treated with", " aspirin"), ("The patient was treated with", " heparin"),
             ("Paris is the capital of ", "France."), *INSIDE_WORD, (chat, "yes"), (chat, "no"), (chat, " maybe"),
             ("", "Paris is the capital of France.")]
    return [Request("loglikelihood", i, 0, pair) for i, pair in enumerate(pairs)]


def test_loglikelihood_matches_hf_causal(backends):
    hf, v, engine = backends
    reqs = _requests(hf)
    tok = hf.tokenizer
    # the word-inside boundary really splits a token: the whole's ids do not start with the context's
    assert any(tok.encode(c + x)[:len(tok.encode(c))] != tok.encode(c) for c, x in INSIDE_WORD)
    ours, theirs = v.loglikelihood(reqs), hf.loglikelihood(reqs)
    for r, a, b in zip(reqs, ours, theirs):
        assert (a.n_tokens, a.is_greedy) == (b.n_tokens, b.is_greedy), r.args
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4), r.args
    # the very ids: context + continuation as hf-causal encodes them; one BOS before the chat prompt
    sent = {tuple(p) for p in engine.prompts}
    for r in reqs:
        ctx, cont = hf.encode_pair(*r.args)
        assert tuple(ctx + cont) in sent, r.args
    bos = hf.prefix_token_id
    assert sum(p[0] == bos for p in engine.prompts) >= 3  # the chat prompts (and the empty context) start with BOS
    assert all(p[:2] != [bos, bos] for p in engine.prompts)  # never twice


def test_rolling_loglikelihood_matches_hf_causal(backends):
    from tests.tiny_models import TEXT

    hf, v, _ = backends
    chat = hf.apply_chat_template([{"role": "user", "content": TEXT[1]}])
    reqs = [Request("loglikelihood_rolling", i, 0, (t,)) for i, t in enumerate([TEXT[0], TEXT[2], chat])]
    for a, b in zip(v.loglikelihood_rolling(reqs), hf.loglikelihood_rolling(reqs)):
        assert a.n_tokens == b.n_tokens and a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_greedy_generation_sends_hf_causal_prompt_ids(backends):
    hf, v, engine = backends
    chat = hf.apply_chat_template([{"role": "user", "content": "Paris is"}])
    reqs = [Request("generate_until", i, 0, (p, (), 6)) for i, p in enumerate([chat, "The patient was"])]
    assert v.generate_until(reqs) == hf.generate_until(reqs)
    assert engine.prompts[-2:] == [hf._encode_prompt(r.args[0], 6) for r in reqs]
    assert engine.prompts[-2][1] != hf.prefix_token_id  # the chat prompt's own BOS, no second one


def test_context_cut_keeps_the_longest_option_inside_the_window(backends, monkeypatch):
    """An over-long context loses its left end so prompt = context + continuation fits max_model_len."""
    hf, v, engine = backends
    v.max_length = 12
    reqs = [Request("loglikelihood", i, 0, ("The patient was treated with aspirin and heparin in the", c))
            for i, c in enumerate([" lace plant leaves", " heart"])]
    results = v.loglikelihood(reqs)
    assert max(len(p) for p in engine.prompts[-2:]) <= 12 and all(r.n_tokens > 0 for r in results)


@pytest.mark.parametrize("with_device_ids", [True, False], ids=["vllm>=0.24 device_ids", "older: CUDA_VISIBLE_DEVICES"])
@pytest.mark.parametrize("mask", [None, "4,6"])
def test_cuda_n_reaches_the_engine_as_device_n(tiny_causal, monkeypatch, with_device_ids, mask):
    """Under --processes rank 1 loads with --device cuda:1: its engine must not land on GPU 0."""
    from harness.models.registry import ModelRef
    from harness.models.vllm import VLLMCausalLM

    fake_vllm.install(monkeypatch, with_device_ids=with_device_ids)
    if mask is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", mask)
    lm = VLLMCausalLM(ModelRef("tiny", str(tiny_causal), "causal"), device="cuda:1", dtype="float32")
    engine = fake_vllm.LLM.created[-1]
    if with_device_ids:
        assert engine.kwargs["device_ids"] == "1" and engine.visible_devices == mask
    else:
        assert "device_ids" not in engine.kwargs and engine.visible_devices == ("6" if mask else "1")
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == mask  # this process's own view is restored
    assert lm.device == lm.info.device == "cuda:1"

    VLLMCausalLM(ModelRef("tiny", str(tiny_causal), "causal"), device="cuda", dtype="float32")
    plain = fake_vllm.LLM.created[-1]
    assert "device_ids" not in plain.kwargs and plain.visible_devices == mask  # vLLM's own choice


def test_engine_device_as_the_installed_vllm_declares_it():
    """vLLM's EngineArgs.device_ids declared as a list gets a list."""
    import dataclasses
    import types

    from harness.models.vllm import engine_device

    @dataclasses.dataclass
    class ListArgs:
        device_ids: list[int] | None = None

    assert engine_device(types.SimpleNamespace(EngineArgs=ListArgs), 3) == ({"device_ids": [3]}, {})
    assert engine_device(types.SimpleNamespace(EngineArgs=ListArgs), None) == ({}, {})
