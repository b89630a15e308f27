"""A stand-in for the ``vllm`` package, answering from a Hugging Face model on the CPU.

It follows vLLM's public API (read from vllm-project/vllm: ``vllm/entrypoints/llm.py``, ``vllm/outputs.py``,
``vllm/logprobs.py``, ``vllm/sampling_params.py``, ``vllm/inputs``):

- ``LLM(model=..., **engine_args)``; ``get_tokenizer()``; ``llm_engine.model_config.max_model_len``;
- ``LLM.generate(prompts, sampling_params, *, use_tqdm, lora_request)`` with prompts as text or as
  ``TokensPrompt`` (a TypedDict: ``{"prompt_token_ids": [...]}``), one ``SamplingParams`` or one per prompt;
  a prompt longer than ``max_model_len`` is a ValueError, as in vLLM;
- ``RequestOutput.prompt_logprobs``: per prompt position None (the first) or ``{token id: Logprob}`` holding
  the prompt's own token (its vocabulary ``rank``, 1 = the most likely) and the top ``prompt_logprobs`` ones;
- ``RequestOutput.outputs[0].text``: greedy text (stop strings cut, not included; EOS ends it).

``install(monkeypatch, with_device_ids=...)`` puts it in ``sys.modules``; ``EngineArgs`` has a ``device_ids``
field (vLLM 0.24+) or not (earlier). Every ``LLM`` records its keywords and the CUDA_VISIBLE_DEVICES it saw.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from dataclasses import dataclass
from typing import TypedDict

__version__ = "0.30.0-fake"


class TokensPrompt(TypedDict, total=False):
    prompt_token_ids: list[int]


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = 16
    logprobs: int | None = None
    prompt_logprobs: int | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None = None
    logprobs: list | None = None
    finish_reason: str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: list | None
    outputs: list[CompletionOutput]
    finished: bool = True


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""


@dataclass
class EngineArgsWithDeviceIds:  # vLLM 0.24+: --device-ids
    model: str = "facebook/opt-125m"
    device_ids: str | None = None


@dataclass
class EngineArgsBefore:  # before 0.24: no device argument (removed in 0.10), CUDA_VISIBLE_DEVICES decides
    model: str = "facebook/opt-125m"


class LLM:
    created: list["LLM"] = []

    def __init__(self, model: str, *, dtype: str = "auto", seed: int | None = None, trust_remote_code: bool = False,
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.9, **kwargs):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        known = {f.name for f in dataclasses.fields(sys.modules["vllm"].EngineArgs)} | {"enable_lora"}
        unknown = set(kwargs) - known
        if unknown:  # EngineArgs(**kwargs) refuses a keyword it does not have
            raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        self.kwargs = {"model": model, "dtype": dtype, "max_model_len": max_model_len, **kwargs}
        self.visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        limit = max_model_len or self.model.config.max_position_embeddings
        self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=limit))
        self.prompts: list[list[int]] = []
        LLM.created.append(self)

    def get_tokenizer(self, lora_request=None):
        return self.tokenizer

    def _logprobs(self, ids: list[int]):
        import torch

        with torch.no_grad():
            logits = self.model(input_ids=torch.tensor([ids])).logits[0].float()
        return torch.log_softmax(logits, dim=-1)

    def _prompt_logprobs(self, ids: list[int], k: int) -> list:
        lp = self._logprobs(ids)
        out: list = [None]
        for i in range(1, len(ids)):
            row = lp[i - 1]
            order = row.argsort(descending=True)
            entry = {}
            for r, tok in enumerate(order[:k].tolist(), start=1):
                entry[tok] = Logprob(float(row[tok]), r, self.tokenizer.decode(tok))
            tok = ids[i]
            entry[tok] = Logprob(float(row[tok]), int((row > row[tok]).sum()) + 1, self.tokenizer.decode(tok))
            out.append(entry)
        return out

    def _greedy(self, ids: list[int], params: SamplingParams) -> str:
        cfg_eos = getattr(self.model.generation_config, "eos_token_id", None)
        eos = ({self.tokenizer.eos_token_id} | set(cfg_eos if isinstance(cfg_eos, (list, tuple)) else [cfg_eos])) - {None}
        stops = [params.stop] if isinstance(params.stop, str) else list(params.stop or [])
        new: list[int] = []
        limit = self.llm_engine.model_config.max_model_len
        while len(new) < (params.max_tokens or 16) and len(ids) + len(new) < limit:
            token = int(self._logprobs(ids + new)[-1].argmax())
            if token in eos:
                break
            new.append(token)
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            if any(s in text for s in stops):
                break
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        for s in stops:
            text = text.split(s)[0]
        return text

    def generate(self, prompts, sampling_params=None, *, use_tqdm: bool = True, lora_request=None, **_):
        prompts = prompts if isinstance(prompts, list) else [prompts]
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params or SamplingParams()] * len(prompts)
        outs = []
        for n, (prompt, p) in enumerate(zip(prompts, params)):
            if isinstance(prompt, str):  # vLLM tokenises text itself, with the tokenizer's special tokens
                ids = self.tokenizer.encode(prompt)
            else:
                ids = list(prompt["prompt_token_ids"])
            limit = self.llm_engine.model_config.max_model_len
            if len(ids) > limit:
                raise ValueError(f"The decoder prompt (length {len(ids)}) is longer than the maximum model length of {limit}.")
            self.prompts.append(ids)
            if p.temperature != 0.0:
                raise NotImplementedError("the stand-in generates greedily only")
            plp = self._prompt_logprobs(ids, p.prompt_logprobs) if p.prompt_logprobs is not None else None
            text = self._greedy(ids, p)
            outs.append(RequestOutput(str(n), prompt if isinstance(prompt, str) else None, ids, plp,
                                      [CompletionOutput(0, text, [], finish_reason="stop")]))
        return outs


def install(monkeypatch, with_device_ids: bool = True) -> types.ModuleType:
    """Make ``import vllm`` (and ``vllm.inputs``, ``vllm.lora.request``) this stand-in, with or without the
    0.24+ ``device_ids`` engine argument; CUDA reported present (vLLM refuses to load without it)."""
    import torch

    mod = types.ModuleType("vllm")
    mod.__version__ = __version__
    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    mod.EngineArgs = EngineArgsWithDeviceIds if with_device_ids else EngineArgsBefore
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = TokensPrompt
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    lora.request = request
    mod.inputs, mod.lora = inputs, lora
    for name, m in {"vllm": mod, "vllm.inputs": inputs, "vllm.lora": lora, "vllm.lora.request": request}.items():
        monkeypatch.setitem(sys.modules, name, m)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    LLM.created = []
    return mod
