"""``--backend vllm``: generation and prompt log-probabilities through vLLM (optional extra:
``pip install 'medtune[vllm]'``; needs a CUDA GPU).

- ``generate_until``: greedy (or the suite's sampling settings), stopping at the suite's stop strings;
- ``loglikelihood``: the prompt ``context + continuation`` scored with ``prompt_logprobs=1`` (one
  forward pass, no generation); the continuation's tokens are summed, and it is greedy when every one
  of them is vLLM's rank-1 token;
- ``loglikelihood_rolling``: the whole text's prompt log-probs (texts longer than the context window are
  refused with a clear error: use hf-causal, which scores them in windows).

A peft adapter is served with vLLM's LoRA support. On a machine without CUDA, or without vLLM installed,
loading it is one clear MedtuneError ("not available here"), raised before any weight is read.
"""

from __future__ import annotations

from harness.contract import LoglikelihoodResult, ModelInfo, RollingResult
from harness.errors import MedtuneError


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


class VLLMCausalLM:
    KINDS = ("loglikelihood", "loglikelihood_rolling", "generate_until")

    def __init__(self, ref, device: str = "auto", dtype: str = "auto", batch_size: int | str = "auto",
                 max_length: int | None = None, gpu_memory_utilization: float = 0.85, **_):
        vllm = require_vllm()
        if device not in ("auto", "cuda") and not str(device).startswith("cuda"):
            raise MedtuneError(f"backend vllm runs on CUDA GPUs; --device {device} cannot be used with it")
        from harness.models.hf_load import pick_dtype

        self.ref, self.device = ref, "cuda"
        self.dtype = pick_dtype(dtype, "cuda")
        self.lora = None
        extra = {}
        if ref.adapter:
            from vllm.lora.request import LoRARequest

            extra = {"enable_lora": True}
            self.lora = LoRARequest(ref.name, 1, ref.adapter)
        self.llm = vllm.LLM(model=ref.path, dtype=str(self.dtype).replace("torch.", ""), seed=0,
                            trust_remote_code=ref.trust_remote_code, max_model_len=max_length,
                            gpu_memory_utilization=gpu_memory_utilization, **extra)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_length = self.llm.llm_engine.model_config.max_model_len
        self.batch_size = batch_size if batch_size != "auto" else "auto"  # vLLM schedules its own batches
        self.info = ModelInfo(name=ref.name, path=ref.location, kind="causal", dtype=str(self.dtype).replace("torch.", ""),
                              device="cuda", n_params=0, extra={"backend": "vllm", "vllm": vllm.__version__})

    def supports(self, kind: str) -> bool:
        return kind in self.KINDS

    def _params(self, **kw):
        from vllm import SamplingParams

        return SamplingParams(**kw)

    def _prompt_logprobs(self, token_lists: list[list[int]]) -> list[list[tuple[float, bool]]]:
        """Per prompt, per token after the first: (log p, token is rank 1)."""
        from vllm.inputs import TokensPrompt

        outs = self.llm.generate([TokensPrompt(prompt_token_ids=t) for t in token_lists],
                                 self._params(max_tokens=1, prompt_logprobs=1, temperature=0.0),
                                 lora_request=self.lora, use_tqdm=False)
        scored = []
        for toks, out in zip(token_lists, outs):
            row = []
            for tok, entry in zip(toks[1:], out.prompt_logprobs[1:]):
                lp = entry[tok]
                row.append((float(lp.logprob), lp.rank == 1))
            scored.append(row)
        return scored

    def _with_prefix(self, ids: list[int]) -> list[int]:
        start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        return [start] + ids

    def loglikelihood(self, requests, progress=None) -> list[LoglikelihoodResult]:
        prompts, spans = [], []
        for r in requests:
            context, continuation = r.args[0], r.args[1]
            ctx = self.tokenizer.encode(context, add_special_tokens=False) if context else []
            whole = self.tokenizer.encode(context + continuation, add_special_tokens=False)
            n_ctx = len(ctx) if whole[:len(ctx)] == ctx else max(len(ctx) - 1, 0)
            ids = self._with_prefix(whole)[-self.max_length:]
            prompts.append(ids)
            spans.append(len(whole) - n_ctx)
        out = []
        for row, n in zip(self._prompt_logprobs(prompts), spans):
            tail = row[-n:] if n else []
            out.append(LoglikelihoodResult(sum(lp for lp, _ in tail), all(g for _, g in tail), n))
        if progress:
            progress(len(requests))
        return out

    def loglikelihood_rolling(self, requests, progress=None) -> list[RollingResult]:
        prompts = []
        for r in requests:
            ids = self._with_prefix(self.tokenizer.encode(r.args[0], add_special_tokens=False))
            if len(ids) > self.max_length:
                raise MedtuneError(f"backend vllm: a text of {len(ids)} tokens is longer than the context "
                                   f"({self.max_length}); use --backend hf-causal (scores it in windows)")
            prompts.append(ids)
        out = [RollingResult(sum(lp for lp, _ in row), len(row)) for row in self._prompt_logprobs(prompts)]
        if progress:
            progress(len(requests))
        return out

    def generate_until(self, requests, progress=None) -> list[str]:
        texts = []
        for r in requests:  # requests may differ in stop strings, length and sampling: one params object each
            prompt, until, max_new = r.args[0], list(r.args[1]), int(r.args[2])
            sampling = dict(r.args[3]) if len(r.args) > 3 else {}
            params = self._params(max_tokens=max_new, stop=until or None,
                                  temperature=float(sampling.get("temperature", 1.0)) if sampling.get("do_sample") else 0.0,
                                  top_p=float(sampling.get("top_p", 1.0)), seed=sampling.get("seed"))
            texts.append((prompt, params))
        outs = self.llm.generate([p for p, _ in texts], [q for _, q in texts], lora_request=self.lora, use_tqdm=False)
        if progress:
            progress(len(requests))
        return [o.outputs[0].text for o in outs]
