"""``--backend vllm``: generation and prompt log-probabilities through vLLM (optional extra:
``pip install 'medtune[vllm]'``; needs a CUDA GPU).

It scores the very token ids hf-causal scores: both tokenise with ``LMEvalTokenisation`` (lm-eval HFLM's
rules: trailing context spaces move to the continuation, the continuation is the tail of the encoded
whole, an empty context is the BOS/EOS token, a chat prompt that already starts with the BOS text gets no
second one), and prompts reach vLLM as token ids (``TokensPrompt``), never as text vLLM would tokenise again.

- ``generate_until``: greedy (or the suite's sampling settings), stopping at the suite's stop strings;
- ``loglikelihood``: the prompt ``context ids + continuation ids`` scored with ``prompt_logprobs=1`` (one
  forward pass, no generation); the continuation's tokens are summed, and it is greedy when every one of
  them is vLLM's rank-1 token. An over-long context loses its left end as in hf-causal, one token more:
  vLLM needs the continuation's last token inside its ``max_model_len`` window, hf-causal does not feed it;
- ``loglikelihood_rolling``: the whole text's prompt log-probs (texts longer than the context window are
  refused with a clear error: use hf-causal, which scores them in windows).

``--device cuda:N`` (each rank's GPU under ``--processes``) puts the engine on GPU N: through vLLM's
``device_ids`` engine argument where the installed vLLM has it (0.24 and later), else by starting the engine
with ``CUDA_VISIBLE_DEVICES`` naming that one GPU (vLLM's engine process inherits it).

A peft adapter is served with vLLM's LoRA support. On a machine without CUDA, or without vLLM installed,
loading it is one clear MedtuneError ("not available here"), raised before any weight is read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

from harness.contract import LoglikelihoodResult, ModelInfo, RollingResult
from harness.errors import MedtuneError
from harness.models.hf_causal import LMEvalTokenisation


def require_vllm():
    """vLLM, or a MedtuneError saying why it is not available here."""
    import torch

    if not torch.cuda.is_available():
        raise MedtuneError("backend vllm is not available here: vLLM needs a CUDA GPU and none is visible; "
                           "use --backend hf-causal (the default)")
    try:
        import vllm
    except ImportError:
        raise MedtuneError("backend vllm is not available here: vLLM is not installed "
                           "(pip install 'medtune[vllm]'); or use --backend hf-causal") from None
    return vllm


def cuda_index(device: str) -> int | None:
    """N of ``cuda:N``; None for ``auto`` / ``cuda`` (vLLM's own choice: the first visible GPU)."""
    head, _, index = str(device).partition(":")
    return int(index) if head == "cuda" and index else None


def engine_device(vllm, index: int | None) -> tuple[dict, dict]:
    """(``LLM`` keywords, environment for starting the engine) that put vLLM's engine on CUDA device ``index``
    as this process numbers them. vLLM 0.24+ takes ``device_ids`` (its engine argument; a string of ids or a
    list, as its EngineArgs declares it); before, the engine's processes use the GPUs ``CUDA_VISIBLE_DEVICES``
    names, so it names that one GPU (mapped through a mask already set)."""
    if index is None:
        return {}, {}
    engine_args = getattr(vllm, "EngineArgs", None)
    fields = {f.name: f for f in dataclasses.fields(engine_args)} if dataclasses.is_dataclass(engine_args) else {}
    if "device_ids" in fields:
        kind = str(fields["device_ids"].type).lower()
        return {"device_ids": [index] if "list" in kind else str(index)}, {}
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and index >= len(visible):
        raise MedtuneError(f"--device cuda:{index}: CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']} "
                           f"shows {len(visible)} GPU(s)")
    return {}, {"CUDA_VISIBLE_DEVICES": visible[index] if visible else str(index)}


@contextlib.contextmanager
def _environment(values: dict):
    """``os.environ`` updated with ``values`` while the engine starts (its processes inherit them), then restored."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class VLLMCausalLM(LMEvalTokenisation):
    KINDS = ("loglikelihood", "loglikelihood_rolling", "generate_until")

    def __init__(self, ref, device: str = "auto", dtype: str = "auto", batch_size: int | str = "auto",
                 max_length: int | None = None, gpu_memory_utilization: float = 0.85, **_):
        vllm = require_vllm()
        if device not in ("auto", "cuda") and not str(device).startswith("cuda"):
            raise MedtuneError(f"backend vllm runs on CUDA GPUs; --device {device} cannot be used with it")
        from harness.models.hf_load import check_device, pick_dtype

        check_device(device)  # cuda:N exists here
        index = cuda_index(device)
        self.ref, self.device = ref, f"cuda:{index}" if index is not None else "cuda"
        self.dtype = pick_dtype(dtype, "cuda")
        self.lora = None
        extra = {}
        if ref.adapter:
            from vllm.lora.request import LoRARequest

            extra = {"enable_lora": True}
            self.lora = LoRARequest(ref.name, 1, ref.adapter)
        placement, env = engine_device(vllm, index)
        with _environment(env):
            self.llm = vllm.LLM(model=ref.path, dtype=str(self.dtype).replace("torch.", ""), seed=0,
                                trust_remote_code=ref.trust_remote_code, max_model_len=max_length,
                                gpu_memory_utilization=gpu_memory_utilization, **placement, **extra)
        self.tokenizer = self.llm.get_tokenizer()
        model_config = getattr(self.llm, "model_config", None) or self.llm.llm_engine.model_config
        self.max_length = model_config.max_model_len
        tok = self.tokenizer
        self.prefix_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.batch_size = batch_size if batch_size != "auto" else "auto"  # vLLM schedules its own batches
        self.info = ModelInfo(name=ref.name, path=ref.location, kind="causal", dtype=str(self.dtype).replace("torch.", ""),
                              device=self.device, n_params=0, extra={"backend": "vllm", "vllm": vllm.__version__})

    def supports(self, kind: str) -> bool:
        return kind in self.KINDS

    def _params(self, **kw):
        from vllm import SamplingParams

        return SamplingParams(**kw)

    @staticmethod
    def _prompts(token_lists: list[list[int]]) -> list:
        from vllm.inputs import TokensPrompt

        return [TokensPrompt(prompt_token_ids=list(t)) for t in token_lists]

    def _prompt_logprobs(self, token_lists: list[list[int]]) -> list[list[tuple[float, bool]]]:
        """Per prompt, per token after the first: (log p, token is rank 1). vLLM's ``prompt_logprobs`` holds,
        per prompt position, None (the first) or {token id: Logprob} with the prompt's own token in it."""
        outs = self.llm.generate(self._prompts(token_lists),
                                 self._params(max_tokens=1, prompt_logprobs=1, temperature=0.0),
                                 lora_request=self.lora, use_tqdm=False)
        scored = []
        for toks, out in zip(token_lists, outs):
            entries = out.prompt_logprobs
            row = []
            for i in range(1, len(toks)):
                lp = entries[i][toks[i]]
                row.append((float(lp.logprob), lp.rank == 1))
            scored.append(row)
        return scored

    def loglikelihood(self, requests, progress=None) -> list[LoglikelihoodResult]:
        prompts, spans, positions = [], [], []
        for g in self.group_by_context(requests):  # the context cut per question, as hf-causal (see the module)
            longest = max(len(c) for _, c in g["conts"])
            room = self.max_length - longest
            if room < 1:
                raise MedtuneError(f"backend vllm: a continuation of {longest} tokens leaves no room for its "
                                   f"context in {self.max_length} tokens")
            ctx = g["ctx"][-room:]
            for pos, cont in g["conts"]:
                prompts.append(ctx + cont)
                spans.append(len(cont))
                positions.append(pos)
        out: list[LoglikelihoodResult | None] = [None] * len(requests)
        for pos, row, n in zip(positions, self._prompt_logprobs(prompts), spans):
            tail = row[len(row) - n:]
            out[pos] = LoglikelihoodResult(sum(lp for lp, _ in tail), all(g for _, g in tail), n)
        if progress:
            progress(len(requests))
        return out

    def loglikelihood_rolling(self, requests, progress=None) -> list[RollingResult]:
        prompts = []
        for r in requests:
            ids = [self.prefix_token_id] + self._encode(r.args[0], add_special_tokens=False)
            if len(ids) > self.max_length:
                raise MedtuneError(f"backend vllm: a text of {len(ids)} tokens is longer than the context "
                                   f"({self.max_length}); use --backend hf-causal (scores it in windows)")
            prompts.append(ids)
        out = [RollingResult(sum(lp for lp, _ in row), len(row)) for row in self._prompt_logprobs(prompts)]
        if progress:
            progress(len(requests))
        return out

    def generate_until(self, requests, progress=None) -> list[str]:
        prompts, params = [], []
        for r in requests:  # requests may differ in stop strings, length and sampling: one params object each
            prompt, until, max_new = r.args[0], list(r.args[1]), int(r.args[2])
            sampling = dict(r.args[3]) if len(r.args) > 3 else {}
            prompts.append(self._encode_prompt(prompt, max_new))  # hf-causal's ids: no second BOS, left-truncated
            params.append(self._params(max_tokens=max_new, stop=until or None,
                                       temperature=float(sampling.get("temperature", 1.0)) if sampling.get("do_sample") else 0.0,
                                       top_p=float(sampling.get("top_p", 1.0)), seed=sampling.get("seed")))
        outs = self.llm.generate(self._prompts(prompts), params, lora_request=self.lora, use_tqdm=False)
        if progress:
            progress(len(requests))
        return [o.outputs[0].text for o in outs]
