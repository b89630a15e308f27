"""Causal-LM backend for the model contract, built for multiple-choice scoring speed.

``loglikelihood`` groups requests by context. For each batch of contexts it runs the decoder
once (left-padded, with the KV cache), then runs every option's continuation against its
context's cache, and applies the LM head only at the positions that score a continuation token.
On a 4-option question with a 250-token stem this does the stem's work once instead of four
times, and never computes a full-vocabulary softmax over the prompt.

Tokenisation follows lm-eval's HFLM exactly (trailing context spaces move to the continuation;
the continuation is the tail of the encoded whole; an empty context is the BOS/EOS token), so
the two engines score the same tokens.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F

from harness.contract import LoglikelihoodResult, ModelInfo, Request, RollingResult, TokenLogprobs
from harness.models.hf_load import count_params, load_model, load_tokenizer, pick_device, pick_dtype, unwrap


class HFCausalLM:
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
        self.head = inner.get_output_embeddings()
        self.logit_scale = getattr(inner.config, "logit_scale", None)  # e.g. Cohere; None for Llama/GPT-2
        cfg = inner.config
        self.max_length = max_length or getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", 2048)
        tok = self.tokenizer
        self.prefix_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        self.batch_size = self._pick_batch_size(batch_size)
        self.info = ModelInfo(name=ref.name, path=ref.location, kind="causal", dtype=str(self.dtype).replace("torch.", ""),
                              device=self.device, n_params=count_params(self.model),
                              extra={"adapter": ref.adapter, "batch_size": self.batch_size})

    def supports(self, kind: str) -> bool:
        return kind in self.KINDS

    # -- batch size -----------------------------------------------------------------------
    def _pick_batch_size(self, batch_size) -> int:
        if batch_size != "auto":
            return max(1, int(batch_size))
        if not self.device.startswith("cuda"):
            return 8  # CPU: throughput barely depends on it; keeps memory small
        from accelerate.utils import find_executable_batch_size

        probe_len = min(self.max_length, 1024)

        @find_executable_batch_size(starting_batch_size=128)
        def probe(batch):
            ids = torch.full((batch, probe_len), self.pad_id, device=self.device)
            with torch.inference_mode():
                self.decoder(input_ids=ids, use_cache=False)
            return batch

        return probe()

    # -- tokenisation (as lm-eval's HFLM) ---------------------------------------------------
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

    # -- loglikelihood with a shared context ------------------------------------------------
    def loglikelihood(self, requests: list[Request], progress=None) -> list[LoglikelihoodResult]:
        groups: OrderedDict[str, dict] = OrderedDict()
        for pos, req in enumerate(requests):
            context, continuation = req.args
            ctx, cont = self.encode_pair(context, continuation)
            g = groups.setdefault(context, {"ctx": ctx, "conts": []})
            g["conts"].append((pos, cont))
        ordered = sorted(groups.values(), key=lambda g: -len(g["ctx"]))
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        for start in range(0, len(ordered), self.batch_size):
            batch = ordered[start:start + self.batch_size]
            for (pos, _), res in zip((c for g in batch for c in g["conts"]), self._score_groups(batch)):
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

        Returns the model output (its ``cache`` and last hidden states), the attention mask and the
        position ids; shared by option scoring and generation."""
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
            gidx = torch.tensor([gi for gi, _ in options], device=dev)
            cache = out.cache
            cache.batch_select_indices(gidx)
            opt_ids = torch.full((len(options), M), self.pad_id, dtype=torch.long)
            opt_mask = torch.zeros((len(options), M), dtype=torch.long)
            for j, (_, cont) in enumerate(options):
                opt_ids[j, : len(cont) - 1] = torch.tensor(cont[:-1], dtype=torch.long)
                opt_mask[j, : len(cont) - 1] = 1
            opt_ids, opt_mask = opt_ids.to(dev), opt_mask.to(dev)
            ctx_len = mask.sum(-1)[gidx]
            pos2 = (ctx_len[:, None] + torch.arange(M, device=dev)[None, :]).clamp(max=self.max_length - 1)
            full_mask = torch.cat([mask[gidx], opt_mask], dim=1)
            hidden2 = self.decoder(input_ids=opt_ids, attention_mask=full_mask, position_ids=pos2,
                                   cache=cache, use_cache=True).last_hidden_state
        for j, (gi, cont) in enumerate(options):
            rows.append(first[gi:gi + 1])
            if len(cont) > 1:
                rows.append(hidden2[j, : len(cont) - 1])
            targets.extend(cont)
            owner.extend([j] * len(cont))
        logprobs = self._hidden_to_logprobs(torch.cat(rows, dim=0))
        tgt = torch.tensor(targets, device=dev)
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
            for start in range(0, len(windows), self.batch_size):
                total += sum(self._score_full(windows[start:start + self.batch_size]))
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
            totals.append(float(lp.gather(-1, torch.tensor(cont, device=self.device)[:, None]).sum()))
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
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                texts = self._generate_batch([prompts[p] for p in batch], [requests[p].args[1] for p in batch],
                                             [int(requests[p].args[2]) for p in batch], dict(sampling), start)
                for p, text in zip(batch, texts):
                    out[p] = text
                if progress:
                    progress(len(batch))
        return out

    def _encode_prompt(self, prompt: str, max_new: int) -> list[int]:
        ids = self._encode(prompt)
        room = max(self.max_length - max_new, 1)
        return ids[-room:] if len(ids) > room else ids  # the left end goes, as lm-eval's left truncation

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], stops: list, budgets: list[int], sampling: dict,
                        offset: int) -> list[str]:
        dev, tok = self.device, self.tokenizer
        B = len(prompts)
        out, mask, positions = self._prefill(prompts)
        cache, hidden = out.cache, out.last_hidden_state[:, -1, :]
        next_pos = positions[:, -1] + 1
        eos = self._eos_ids()
        windows = [max([len(self._encode(s, add_special_tokens=False)) for s in row] or [0]) + 2 for row in stops]
        gen = None
        if sampling.get("do_sample"):
            gen = torch.Generator(device=dev).manual_seed(int(sampling.get("seed", 0)) + offset)
        rows = list(range(B))  # original row of each live batch position
        generated: list[list[int]] = [[] for _ in range(B)]
        while rows:
            logits = self.head(hidden).float()
            if self.logit_scale:
                logits = logits * self.logit_scale
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
                index = torch.tensor(keep, device=dev)
                cache.batch_select_indices(index)
                mask, next_pos = mask[index], next_pos[index]
                rows = [rows[j] for j in keep]
            tokens = torch.tensor([generated[r][-1] for r in rows], device=dev)[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            hidden = self.decoder(input_ids=tokens, attention_mask=mask, position_ids=next_pos[:, None], cache=cache,
                                  use_cache=True).last_hidden_state[:, -1, :]
            next_pos = next_pos + 1
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
                target = torch.tensor(s[1:], device=self.device)
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

    def continuation_tokens(self, context: str, continuation: str) -> int:
        """How many tokens the continuation is scored on after ``context`` (the engines' shared tokenisation)."""
        return len(self.encode_pair(context, continuation)[1])

