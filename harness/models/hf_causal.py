"""Causal-LM backend for the model contract, built for multiple-choice scoring speed.

``loglikelihood`` groups requests by context. For each batch of contexts it runs the decoder
once (left-padded, with the KV cache), then runs every option's continuation against its
context's cache, and applies the LM head only at the positions that score a continuation token.
On a 4-option question with a 250-token stem this does the stem's work once instead of four
times, and never computes a full-vocabulary softmax over the prompt.

Tokenisation follows lm-eval's HFLM exactly (trailing context spaces move to the continuation;
the continuation is the tail of the encoded whole; an empty context is the BOS/EOS token), so
the two engines score the same tokens (the vllm backend shares it: ``LMEvalTokenisation``).

Works with transformers 5.17 and later: the KV cache keyword of the decoder's forward (``past_key_values``
before 5.24, ``cache`` since) is read from its signature once (``cache_keyword``). Under ``--device-map auto``
the layers, the KV cache and the LM head may sit on different GPUs: every index tensor is made on the device
of the tensor it indexes (``index_for``, ``select_cache_rows``). A batch that runs out of GPU memory is run
again at half the size (``_in_batches``), and the smaller size kept.
"""

from __future__ import annotations

import gc
import inspect
from collections import OrderedDict

import torch
import torch.nn.functional as F

from harness.contract import LoglikelihoodResult, ModelInfo, Request, RollingResult, TokenLogprobs
from harness.errors import MedtuneError
from harness.models.hf_load import count_params, load_model, load_tokenizer, pick_device, pick_dtype, unwrap

# transformers 5.24 renamed the KV cache's forward keyword and output field (past_key_values -> cache)
CACHE_KEYWORDS = ("cache", "past_key_values")


def cache_keyword(module) -> str:
    """``cache`` (transformers >= 5.24) or ``past_key_values`` (5.17 .. 5.23): what ``module.forward`` calls
    the KV cache, read from its signature (transformers' decorators keep it); from the installed version
    when the forward takes only ``**kwargs`` (remote code)."""
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        params = {}
    for name in CACHE_KEYWORDS:
        if name in params:
            return name
    import transformers
    from packaging.version import Version

    return "cache" if Version(transformers.__version__).release >= (5, 24) else "past_key_values"


def output_cache(out):
    """The KV cache a forward pass returned (``out.cache`` since transformers 5.24, ``out.past_key_values`` before)."""
    for name in CACHE_KEYWORDS:
        cache = getattr(out, name, None)
        if cache is not None:
            return cache
    raise MedtuneError("the model returned no KV cache (use_cache=True was ignored): hf-causal cannot score it")


def index_for(values, target: torch.Tensor) -> torch.Tensor:
    """A long tensor of ``values`` on the device of ``target``, the tensor it will index: under
    ``--device-map auto`` hidden states, logits and cache layers live on other GPUs than the embeddings."""
    return torch.tensor(values, dtype=torch.long, device=target.device)


def select_cache_rows(cache, index: torch.Tensor) -> None:
    """Keep the batch rows ``index`` of every cache layer (in place), the index copied once to each device a
    layer's keys and values live on (their layer's GPU under ``--device-map auto``)."""
    layers = getattr(cache, "layers", None)
    if layers is None:  # a cache class without per-layer objects: its own method
        cache.batch_select_indices(index)
        return
    on: dict = {}
    for layer in layers:
        keys = getattr(layer, "keys", None)
        device = keys.device if isinstance(keys, torch.Tensor) else index.device
        if device not in on:
            on[device] = index.to(device)
        layer.batch_select_indices(on[device])


def out_of_memory_errors() -> tuple:
    """What an accelerator running out of memory raises (``torch.cuda.OutOfMemoryError`` is ``torch.OutOfMemoryError``)."""
    return tuple({getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError})


class LMEvalTokenisation:
    """lm-eval HFLM's tokenisation of (context, continuation) pairs and of prompts, shared by hf-causal and
    vllm so that both score the very same token ids. Needs ``tokenizer``, ``prefix_token_id``, ``max_length``."""

    def _encode(self, text: str, **kwargs) -> list[int]:
        """As lm-eval's ``tok_encode``: a text that already starts with the BOS/prefix token's text (a chat
        template's output) gets no second one."""
        if "add_special_tokens" not in kwargs and self._bos_text and text.startswith(self._bos_text):
            kwargs["add_special_tokens"] = False
        return self.tokenizer.encode(text, **kwargs)

    @property
    def _bos_text(self) -> str:
        if not hasattr(self, "_bos_text_cached"):
            self._bos_text_cached = self.tokenizer.decode(self.prefix_token_id) if self.prefix_token_id is not None else ""
        return self._bos_text_cached

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        if context == "":
            cont = self._encode(continuation, add_special_tokens=False)
            if cont and cont[0] == self.prefix_token_id:
                return cont[:1], cont[1:]
            return [self.prefix_token_id], cont
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self._encode(context + continuation)
        ctx = self._encode(context)
        return ctx, whole[len(ctx):]

    def group_by_context(self, requests: list[Request]) -> list[dict]:
        """Requests sharing a context, longest context first: ``{"ctx": ids, "conts": [(position, ids)]}``."""
        groups: OrderedDict[str, dict] = OrderedDict()
        for pos, req in enumerate(requests):
            context, continuation = req.args[0], req.args[1]
            ctx, cont = self.encode_pair(context, continuation)
            g = groups.setdefault(context, {"ctx": ctx, "conts": []})
            g["conts"].append((pos, cont))
        return sorted(groups.values(), key=lambda g: -len(g["ctx"]))

    def _encode_prompt(self, prompt: str, max_new: int) -> list[int]:
        ids = self._encode(prompt)
        room = max(self.max_length - max_new, 1)
        return ids[-room:] if len(ids) > room else ids  # the left end goes, as lm-eval's left truncation

    def continuation_tokens(self, context: str, continuation: str) -> int:
        """How many tokens the continuation is scored on after ``context`` (the engines' shared tokenisation)."""
        return len(self.encode_pair(context, continuation)[1])


class HFCausalLM(LMEvalTokenisation):
    KINDS = ("loglikelihood", "loglikelihood_rolling", "generate_until", "token_logprobs")
    TOKEN_STATS_BATCH = 4  # texts per forward pass for token_logprobs (the vocabulary softmax is per text)

    def __init__(self, ref, device: str = "auto", dtype: str = "auto", batch_size: int | str = "auto",
                 max_length: int | None = None, model=None, tokenizer=None, quantize: str | None = None,
                 device_map: str | None = None):
        from transformers import AutoModelForCausalLM

        from harness.models.hf_load import big_model_options

        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        big = big_model_options(self.device, self.dtype, quantize, device_map)  # errors before any weight is read
        self.tokenizer = tokenizer or load_tokenizer(ref)
        self.model = model if model is not None else load_model(ref, AutoModelForCausalLM, self.device, self.dtype,
                                                                self.tokenizer, **big)
        if big.get("device_map") == "auto":  # layers over several GPUs: inputs go where the embeddings are
            self.device = str(unwrap(self.model).get_input_embeddings().weight.device)
        inner = unwrap(self.model)
        self.decoder = getattr(inner, inner.base_model_prefix)
        self.cache_kw = cache_keyword(self.decoder)  # past_key_values (transformers < 5.24) or cache
        self.head = inner.get_output_embeddings()
        self.logit_scale = getattr(inner.config, "logit_scale", None)  # e.g. Cohere; None for Llama/GPT-2
        cfg = inner.config
        self.max_length = max_length or getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", 2048)
        tok = self.tokenizer
        self.prefix_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        self.batch_size = self._pick_batch_size(batch_size)
        self.generated_tokens = 0  # token ids generate_until produced so far (EOS not counted): speed figures
        self.info = ModelInfo(name=ref.name, path=ref.location, kind="causal", dtype=str(self.dtype).replace("torch.", ""),
                              device=self.device, n_params=count_params(self.model),
                              extra={"adapter": ref.adapter, "batch_size": self.batch_size})

    def supports(self, kind: str) -> bool:
        return kind in self.KINDS

    # -- batch size -----------------------------------------------------------------------
    PROBE_START = 128  # the largest batch tried
    PROBE_TOKENS = 2048  # probe questions fill min(max_length, this) tokens; longer real batches halve on their own
    PROBE_OPTIONS = 4  # options per probe question (each copies its context's KV cache)

    def _pick_batch_size(self, batch_size) -> int:
        if batch_size != "auto":
            return max(1, int(batch_size))
        if not self.device.startswith("cuda"):
            return 8  # CPU: throughput barely depends on it; keeps memory small
        return self._probe_batch_size()

    def _probe_batch_size(self) -> int:
        """The largest batch (128, halving) of the real scoring call: ``_score_groups`` itself (prefill with
        the KV cache, the cache copied per option, the options' pass through it, the full-vocabulary log-softmax
        at every option token) on questions of ``PROBE_OPTIONS`` options of ``C`` tokens whose context fills the
        rest of min(max_length, PROBE_TOKENS). A real batch that still does not fit is halved by ``_in_batches``."""
        length = min(self.max_length, self.PROBE_TOKENS)
        C = max(1, min(32, length // 8))
        ctx = [self.pad_id] * max(1, length + 1 - C)
        batch = self.PROBE_START
        while batch > 1:
            groups = [{"ctx": ctx, "conts": [(k, [self.pad_id] * C) for k in range(self.PROBE_OPTIONS)]}
                      for _ in range(batch)]
            if self._fits(self._score_groups, groups) is not None:
                break
            batch //= 2
        return batch

    def _fits(self, run, *args):
        """``run(*args)``, or None when the accelerator ran out of memory (that call's memory freed again)."""
        oom = False
        try:
            return run(*args)
        except out_of_memory_errors():
            oom = True  # freed below, outside the except clause that holds the failed call's frames
        if oom:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        return None

    def _in_batches(self, items: list, run):
        """``(start, chunk, run(chunk, start))`` for consecutive chunks of ``items`` of at most ``batch_size``.
        A chunk that runs out of accelerator memory is run again at half its size, and the smaller batch size
        is kept for this model's later calls (and recorded with the run). A chunk's results depend only on its
        own items, so they are those of a run that never ran out of memory (sampled generation aside: its
        seed follows the chunk's start)."""
        start = 0
        while start < len(items):
            chunk = items[start:start + self.batch_size]
            result = self._fits(run, chunk, start)
            if result is None:
                if len(chunk) == 1:
                    raise MedtuneError(f"out of GPU memory with a batch of one (max_length {self.max_length}); "
                                       "use --load-in-4bit or --device-map auto")
                self.batch_size = max(1, len(chunk) // 2)
                self.info.extra["batch_size"] = self.batch_size
                continue
            yield start, chunk, result
            start += len(chunk)

    # -- loglikelihood with a shared context ------------------------------------------------
    def loglikelihood(self, requests: list[Request], progress=None) -> list[LoglikelihoodResult]:
        ordered = self.group_by_context(requests)
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        for _, batch, scored in self._in_batches(ordered, lambda chunk, _start: self._score_groups(chunk)):
            for (pos, _), res in zip((c for g in batch for c in g["conts"]), scored):
                results[pos] = res
            if progress:
                progress(sum(len(g["conts"]) for g in batch))
        return results

    def _hidden_to_logprobs(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden).float()
        if self.logit_scale:
            logits = logits * self.logit_scale
        return F.log_softmax(logits, dim=-1)

    def _prefill(self, seqs: list[list[int]]):
        """One left-padded forward pass with the KV cache (every sequence ends at the last position).

        Returns the model output (its KV cache, see ``output_cache``, and last hidden states), the attention
        mask and the position ids; shared by option scoring and generation."""
        L = max(len(q) for q in seqs)
        ids = torch.full((len(seqs), L), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), L), dtype=torch.long)
        for i, q in enumerate(seqs):
            ids[i, L - len(q):] = torch.tensor(q)
            mask[i, L - len(q):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        return out, mask, positions

    @torch.inference_mode()
    def _score_groups(self, groups: list[dict]) -> list[LoglikelihoodResult]:
        dev = self.device
        # Over-long contexts lose their left end, per question (never depending on the batch), so
        # the longest option still fits: lm-eval cuts per option instead, which only differs here.
        ctxs = []
        for g in groups:
            room = self.max_length + 1 - max(len(c) for _, c in g["conts"])
            ctxs.append(g["ctx"][-room:] if len(g["ctx"]) > room else g["ctx"])
        out, mask, positions = self._prefill(ctxs)
        first = out.last_hidden_state[:, -1, :]  # predicts each option's first token

        options = [(gi, cont) for gi, g in enumerate(groups) for _, cont in g["conts"]]
        M = max(len(cont) - 1 for _, cont in options)
        rows, targets, owner = [], [], []
        if M > 0:
            gidx = index_for([gi for gi, _ in options], mask)
            cache = output_cache(out)
            select_cache_rows(cache, gidx)  # each option gets its context's cache, on each layer's own device
            opt_ids = torch.full((len(options), M), self.pad_id, dtype=torch.long)
            opt_mask = torch.zeros((len(options), M), dtype=torch.long)
            for j, (_, cont) in enumerate(options):
                if len(cont) > 1:
                    opt_ids[j, : len(cont) - 1] = torch.tensor(cont[:-1], dtype=torch.long)
                    opt_mask[j, : len(cont) - 1] = 1
            opt_ids, opt_mask = opt_ids.to(dev), opt_mask.to(dev)
            ctx_len = mask.sum(-1)[gidx]
            pos2 = (ctx_len[:, None] + torch.arange(M, device=dev)[None, :]).clamp(max=self.max_length - 1)
            full_mask = torch.cat([mask[gidx], opt_mask], dim=1)
            hidden2 = self.decoder(input_ids=opt_ids, attention_mask=full_mask, position_ids=pos2,
                                   use_cache=True, **{self.cache_kw: cache}).last_hidden_state
        for j, (gi, cont) in enumerate(options):
            if not cont:  # no token of its own (the context's last token spans it already): log p 0, an empty sum
                continue
            rows.append(first[gi:gi + 1])
            if len(cont) > 1:
                rows.append(hidden2[j, : len(cont) - 1])
            targets.extend(cont)
            owner.extend([j] * len(cont))
        if not targets:
            return [LoglikelihoodResult(0.0, True, 0) for _ in options]
        logprobs = self._hidden_to_logprobs(torch.cat(rows, dim=0))
        tgt = index_for(targets, logprobs)  # on the LM head's device (the last GPU under --device-map auto)
        token_lp = logprobs.gather(-1, tgt[:, None])[:, 0].double().cpu()
        greedy = (logprobs.argmax(-1) == tgt).cpu()
        owner_t = torch.tensor(owner)
        sums = torch.zeros(len(options), dtype=torch.float64).index_add_(0, owner_t, token_lp)
        misses = torch.zeros(len(options), dtype=torch.long).index_add_(0, owner_t, (~greedy).long())
        return [LoglikelihoodResult(float(sums[j]), bool(misses[j] == 0), len(cont)) for j, (_, cont) in enumerate(options)]

    # -- rolling loglikelihood (perplexity) ---------------------------------------------------
    def loglikelihood_rolling(self, requests: list[Request], progress=None) -> list[RollingResult]:
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        out = []
        for req in requests:
            tokens = self._encode(req.args[0], add_special_tokens=False)
            windows = [make_disjoint_window(w) for w in get_rolling_token_windows(
                token_list=tokens, prefix_token=self.prefix_token_id, max_seq_len=self.max_length, context_len=1)]
            total = 0.0
            for _, _, scored in self._in_batches(windows, lambda chunk, _start: self._score_full(chunk)):
                total += sum(scored)
            out.append(RollingResult(total, len(tokens)))
            if progress:
                progress(1)
        return out

    def hidden_states(self, seqs: list[list[int]]) -> torch.Tensor:
        """Last hidden states of right-padded token sequences (row i is valid up to len(seqs[i]))."""
        L = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), L), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), L), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return self.decoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), use_cache=False).last_hidden_state

    @torch.inference_mode()
    def _score_full(self, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
        """Sum log P(cont | ctx) for unshared (ctx, cont) token pairs, right-padded."""
        seqs = [(ctx + cont)[:-1] for ctx, cont in pairs]
        hidden = self.hidden_states(seqs)
        totals = []
        for i, (ctx, cont) in enumerate(pairs):
            end = len(seqs[i])
            lp = self._hidden_to_logprobs(hidden[i, end - len(cont): end])
            totals.append(float(lp.gather(-1, index_for(cont, lp)[:, None]).sum()))
        return totals

    # -- chat template (suites._chat) ------------------------------------------------------------
    @property
    def chat_template(self) -> str | None:
        """The tokenizer's chat template (None when it has none)."""
        template = getattr(self.tokenizer, "chat_template", None)
        return template if isinstance(template, str) and template.strip() else None

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        """As lm-eval's ``HFLM.apply_chat_template`` (a template refusing the system role gets the
        conversation without it, as there)."""
        import jinja2

        kwargs = dict(tokenize=False, add_generation_prompt=add_generation_prompt,
                      continue_final_message=not add_generation_prompt)
        try:
            return self.tokenizer.apply_chat_template(messages, **kwargs)
        except jinja2.exceptions.TemplateError:
            return self.tokenizer.apply_chat_template([m for m in messages if m["role"] != "system"], **kwargs)

    # -- generation -----------------------------------------------------------------------------
    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id} - {None}
        cfg_eos = getattr(getattr(unwrap(self.model), "generation_config", None), "eos_token_id", None)
        ids |= set(cfg_eos if isinstance(cfg_eos, (list, tuple)) else [cfg_eos]) - {None}
        return ids

    def generate_until(self, requests: list[Request], progress=None) -> list[str]:
        """Batched generation: prompts left-padded (longest first, as lm-eval), one prefill, then one
        token per step through the KV cache; a row leaves the batch (and the cache) as soon as it
        produced EOS, one of its stop strings or its token budget. Greedy unless the request carries
        sampling settings (``args[3]``: do_sample, temperature, top_p, seed). The text is cut at the
        first stop string, as lm-eval does."""
        out: list[str | None] = [None] * len(requests)
        groups: OrderedDict[tuple, list[int]] = OrderedDict()
        for pos, r in enumerate(requests):
            groups.setdefault(tuple(r.args[3]) if len(r.args) > 3 else (), []).append(pos)
        for sampling, positions in groups.items():
            prompts = {p: self._encode_prompt(requests[p].args[0], requests[p].args[2]) for p in positions}
            order = sorted(positions, key=lambda p: -len(prompts[p]))

            def run(batch, start, prompts=prompts, sampling=sampling):
                return self._generate_batch([prompts[p] for p in batch], [requests[p].args[1] for p in batch],
                                            [int(requests[p].args[2]) for p in batch], dict(sampling), start)

            for _, batch, texts in self._in_batches(order, run):
                for p, text in zip(batch, texts):
                    out[p] = text
                if progress:
                    progress(len(batch))
        return out

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], stops: list, budgets: list[int], sampling: dict,
                        offset: int) -> list[str]:
        dev, tok = self.device, self.tokenizer
        B = len(prompts)
        out, mask, positions = self._prefill(prompts)
        cache, hidden = output_cache(out), out.last_hidden_state[:, -1, :]
        next_pos = positions[:, -1] + 1
        eos = self._eos_ids()
        windows = [max([len(self._encode(s, add_special_tokens=False)) for s in row] or [0]) + 2 for row in stops]
        gen = None  # the sampling generator: made at the first step on the logits' device (the LM head's)
        rows = list(range(B))  # original row of each live batch position
        generated: list[list[int]] = [[] for _ in range(B)]
        while rows:
            logits = self.head(hidden).float()
            if self.logit_scale:
                logits = logits * self.logit_scale
            if gen is None and sampling.get("do_sample"):
                gen = torch.Generator(device=logits.device).manual_seed(int(sampling.get("seed", 0)) + offset)
            picked = self._pick(logits, sampling, gen).tolist()
            keep = []
            for j, (row, token) in enumerate(zip(rows, picked)):
                if token in eos:
                    continue
                generated[row].append(token)
                done = len(generated[row]) >= budgets[row]
                if not done and stops[row]:
                    tail = tok.decode(generated[row][-windows[row]:], skip_special_tokens=True)
                    done = any(s in tail for s in stops[row])
                if not done:
                    keep.append(j)
            if not keep:
                break
            if len(keep) < len(rows):
                index = index_for(keep, mask)  # mask and positions: on the inputs' device
                select_cache_rows(cache, index)  # the cache: on each layer's own device
                mask, next_pos = mask[index], next_pos[index]
                rows = [rows[j] for j in keep]
            tokens = torch.tensor([generated[r][-1] for r in rows], device=dev)[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            hidden = self.decoder(input_ids=tokens, attention_mask=mask, position_ids=next_pos[:, None], use_cache=True,
                                  **{self.cache_kw: cache}).last_hidden_state[:, -1, :]
            next_pos = next_pos + 1
        self.generated_tokens += sum(len(g) for g in generated)
        texts = []
        for row in range(B):
            text = tok.decode(generated[row], skip_special_tokens=True)
            for stop in stops[row]:
                text = text.split(stop)[0]
            texts.append(text)
        return texts

    @staticmethod
    def _pick(logits: torch.Tensor, sampling: dict, gen) -> torch.Tensor:
        if not sampling.get("do_sample"):
            return logits.argmax(-1)
        logits = logits / float(sampling.get("temperature", 1.0))
        top_p = float(sampling.get("top_p", 1.0))
        if top_p < 1.0:
            sorted_logits, order = logits.sort(dim=-1, descending=True)
            probs = sorted_logits.softmax(-1)
            drop = probs.cumsum(-1) - probs > top_p  # keep the smallest set reaching top_p
            logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
        return torch.multinomial(logits.softmax(-1), 1, generator=gen)[:, 0]

    def token_labels(self, requests, progress=None):
        raise NotImplementedError("a causal LM does not predict token labels")

    # -- token log-probs with distribution statistics (membership inference) --------------------
    @torch.inference_mode()
    def token_logprobs(self, requests: list[Request], progress=None) -> list[TokenLogprobs]:
        """Per text: log p(x_t | x_<t) of its first ``max_tokens`` tokens after the prefix token, and
        the mean / std of log p(z) over the whole vocabulary at each position (one forward pass per
        batch of texts, the vocabulary softmax one text at a time)."""
        seqs = [[self.prefix_token_id] + self._encode(r.args[0], add_special_tokens=False)[: r.args[1]] for r in requests]
        out: list[TokenLogprobs] = []
        for start in range(0, len(seqs), self.TOKEN_STATS_BATCH):
            batch = seqs[start:start + self.TOKEN_STATS_BATCH]
            hidden = self.hidden_states(batch)
            for i, s in enumerate(batch):
                lp = self._hidden_to_logprobs(hidden[i, : len(s) - 1])
                p = lp.exp()
                mu = (p * lp).sum(-1)
                sigma = ((p * lp * lp).sum(-1) - mu * mu).clamp(min=1e-12).sqrt()
                target = index_for(s[1:], lp)
                out.append(TokenLogprobs(lp.gather(-1, target[:, None])[:, 0].double().cpu().numpy(),
                                         mu.double().cpu().numpy(), sigma.double().cpu().numpy()))
            if progress:
                progress(len(batch))
        return out

    # -- the lm-eval engine ------------------------------------------------------------------------
    def lm_eval_model(self):
        """lm-eval's ``HFLM`` over this very model and tokenizer (``--engine lm-eval``): same weights,
        dtype, batch size and context length as the native engine."""
        from lm_eval.models.huggingface import HFLM

        return HFLM(pretrained=unwrap(self.model), tokenizer=self.tokenizer, batch_size=self.batch_size,
                    max_length=self.max_length)

