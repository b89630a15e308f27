"""One-GPU check (issue #16 item 5, issue #29 item 5), within 8 minutes, no download: a random-init Llama-architecture
model of ~1B parameters (TinyLlama-1.1B shape: hidden 2048, 22 layers, GQA 32/4 heads, vocab 32000).

    python bench/gpu_check.py            # on a CUDA machine (bench/gpu_check.sh wraps it)
    python bench/gpu_check.py --dry-run  # tiny sizes on CPU: checks the script end to end

Prints, and writes as JSON to --out:
1. multiple-choice questions/s, native engine vs lm-eval's HF model (HFLM around the same weights), both
   at batch auto, and that they choose the same option on every question (random weights still rank
   options deterministically);
2. generation tokens/s (medtune's hf-causal backend, greedy, fixed length);
3. ``medtune tune`` (tuning.train.tune, method full) tokens/s and MFU vs a plain HF Trainer script on
   the same model, data, sequence length and batch, bf16 on both sides;
4. LoRA and QLoRA (nf4) tuning steps through medtune's own tuning path (tuning.train.tune, methods lora/qlora,
   r16 on every linear projection): tokens/s, loss, trainable parameters, the adapter saved;
5. 4-bit (nf4) and 8-bit (LLM.int8) multiple-choice eval through the hf-causal backend's ``quantize`` option:
   q/s, quantised layers, memory against the unquantised model;
6. bf16: the dtype each part actually ran in (eval weights, 4-bit compute dtype, the Trainer's weights and its
   bf16 flag, read by a TrainerCallback), against bfloat16 on CUDA;
each with PASS/FAIL (SKIP in a dry run for what has no CPU kernel), a summary, exit status 1 if any FAIL;
then the ratios. MFU = 6 x (parameters outside the input embedding) x tokens/s + attention
(12 x layers x hidden x seq per token), over the GPU's dense bf16 peak (H100/H200 989 TFLOP/s, A100 312;
override with GPU_PEAK_TFLOPS). lm-eval or bitsandbytes missing (the lent GPU image lacks them unless
bench/gpu_check.sh installed the wheels bench/gpu_wheels.sh carried): those checks FAIL and say so.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import logging
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FULL = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
            num_key_value_heads=4, vocab_size=32000, questions=256, gen_prompts=32, gen_tokens=128,
            steps=12, batch=8, seq=1024, adapter_steps=8, quant_questions=64, quant_batch=32)
DRY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, vocab_size=512, questions=12, gen_prompts=4, gen_tokens=8,
           steps=3, batch=2, seq=32, adapter_steps=2, quant_questions=12, quant_batch=8)
PEAKS = {"H100": 989e12, "H200": 989e12, "H800": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12}


def build_model(folder: Path, s: dict, device: str) -> tuple[Path, int]:
    """Random-init Llama saved as an HF directory (bf16 on CUDA) with the tests' small BPE tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.tiny_models import _train_bpe

    tok = _train_bpe()
    cfg = LlamaConfig(vocab_size=s["vocab_size"], hidden_size=s["hidden_size"], intermediate_size=s["intermediate_size"],
                      num_hidden_layers=s["num_hidden_layers"], num_attention_heads=s["num_attention_heads"],
                      num_key_value_heads=s["num_key_value_heads"], max_position_embeddings=4096,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype)
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    del model
    return folder, n


def questions(n: int) -> list[tuple[str, list[str]]]:
    from tests.tiny_models import TEXT

    out = []
    for i in range(n):
        stem = " ".join(TEXT[(i + k) % len(TEXT)] for k in range(3))
        opts = [TEXT[(i + 3 + k) % len(TEXT)][:40 + 5 * k] for k in range(4)]
        out.append((f"{stem}\nQuestion {i}: which statement follows?\nAnswer:", [" " + o for o in opts]))
    return out


def mcq(path: Path, s: dict, device: str) -> dict:
    from harness import contract
    from harness.models import load, resolve

    lm = load(resolve(str(path)), device=device, batch_size="auto")
    qs = questions(s["questions"])
    reqs = [contract.loglikelihood(d, i, ctx, c) for d, (ctx, opts) in enumerate(qs) for i, c in enumerate(opts)]
    lm.loglikelihood(reqs[:8])  # warm-up
    t0 = time.perf_counter()
    ours = lm.loglikelihood(reqs)
    native = len(qs) / (time.perf_counter() - t0)
    pick = [max(range(4), key=lambda i: ours[4 * d + i].logprob) for d in range(len(qs))]
    out = {"questions": len(qs), "native_q_per_s": round(native, 2), "native_batch": lm.batch_size,
           "finite": all(math.isfinite(r.logprob) for r in ours), "_pick": pick}
    try:
        from lm_eval.api.instance import Instance

        from harness.lmeval_bridge import make_hflm
    except ImportError as exc:
        out["lmeval"] = f"not installed here ({exc.name}): native figure only"
        return out | {"_lm": lm}
    hflm = make_hflm(lm)
    inst = [Instance(request_type="loglikelihood", doc={}, arguments=(r.args[0], r.args[1]), idx=r.index)
            for r in reqs]
    hflm.loglikelihood(inst[:8])
    t0 = time.perf_counter()
    theirs = hflm.loglikelihood(inst)
    ref = len(qs) / (time.perf_counter() - t0)
    pick_ref = [max(range(4), key=lambda i: theirs[4 * d + i][0]) for d in range(len(qs))]
    agree = sum(a == b for a, b in zip(pick, pick_ref))
    # where the engines choose differently: how far apart native's two candidates are (a near-tie that numeric
    # noise of the size of the engines' largest log-prob difference can flip, or not)
    gaps = [abs(ours[4 * d + pick[d]].logprob - ours[4 * d + pick_ref[d]].logprob)
            for d in range(len(qs)) if pick[d] != pick_ref[d]]
    out.update(lmeval_q_per_s=round(ref, 2), lmeval_batch=str(getattr(hflm, "batch_size", "?")),
               agree=f"{agree}/{len(qs)}", ratio_native_over_lmeval=round(native / ref, 2),
               max_abs_logprob_diff=round(max(abs(o.logprob - t[0]) for o, t in zip(ours, theirs)), 5),
               disagree_max_gap=round(max(gaps), 5) if gaps else 0.0,
               lmeval_finite=all(math.isfinite(t[0]) for t in theirs))
    return out | {"_lm": lm}


def generated_ids(lm, run) -> int:
    """How many token ids ``run()`` made ``lm`` generate: the backend's own count (hf-causal's
    ``generated_tokens``). Re-tokenising the returned text would count what the tests' 400-word tokenizer can
    spell of a random 32,000-word model's ids (most decode to nothing): about 100x too few."""
    before = lm.generated_tokens
    run()
    return lm.generated_tokens - before


def generation(lm, s: dict) -> dict:
    from harness.contract import generate_until

    reqs = [generate_until(i, f"Patient {i} presents with", until=(), max_new_tokens=s["gen_tokens"])
            for i in range(s["gen_prompts"])]
    lm.generate_until(reqs[:2])
    t0 = time.perf_counter()
    produced = generated_ids(lm, lambda: lm.generate_until(reqs))
    wall = time.perf_counter() - t0
    return {"prompts": len(reqs), "tokens": produced, "gen_tokens_per_s": round(produced / wall, 1)}


def corpus(root: Path) -> None:
    from tests.tiny_models import TEXT

    (root / "corpus").mkdir(parents=True, exist_ok=True)
    (root / "corpus" / "bio.txt").write_text("\n".join(TEXT * 200) + "\n")


def medtune_tune(path: Path, root: Path, out: Path, s: dict, device: str, callbacks: tuple = ()) -> float:
    return float(medtune_run(path, root, out, s, device, callbacks=callbacks).lineage["tokens_per_s"])


def medtune_run(path: Path, root: Path, out: Path, s: dict, device: str, method: str = "dapt", extra: dict | None = None,
                callbacks: tuple = ()):
    """``tuning.train.tune`` (what ``medtune tune`` runs) of the demo recipe on ``path`` with ``method``; the Outcome."""
    from harness.store import Store
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    sets = {"method": method, "base": str(path), "name": out.name, "output_dir": str(out), "data.files": ["corpus/bio.txt"],
            "data.eval_size": 4, "train.max_steps": s["steps"], "train.batch": s["batch"], "train.grad_accum": 1,
            "train.seq_length": s["seq"], "train.eval_every": s["steps"] + 1, "train.log_every": s["steps"],
            "train.patience": None, "train.device": device, "train.dtype": "bfloat16" if device == "cuda" else "float32",
            "data.replay": None, "data.canaries": None, **(extra or {})}
    spec = load_recipe("demo_dapt_smollm2", sets)
    ctx = TuneContext(store=Store(out.parent / f"{out.name}.duckdb"), data_root=root, output=spec.output_path(),
                      show_progress=False, echo=lambda m: None, callbacks=list(callbacks))
    return tune(spec, ctx, force=True)


def plain_trainer(path: Path, root: Path, out: Path, s: dict, device: str) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, default_data_collator

    tok = AutoTokenizer.from_pretrained(path)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    lines = [l for l in (root / "corpus" / "bio.txt").read_text().splitlines() if l.strip()]
    ids = [t for x in tok(lines)["input_ids"] for t in x + [tok.eos_token_id]]
    blocks = [ids[i:i + s["seq"]] for i in range(0, len(ids) - s["seq"] + 1, s["seq"])]
    data = [{"input_ids": b, "labels": b, "attention_mask": [1] * s["seq"]} for b in blocks]
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=s["batch"], max_steps=s["steps"],
                             learning_rate=5e-5, save_strategy="no", eval_strategy="no", report_to="none",
                             logging_steps=s["steps"], disable_tqdm=True, use_cpu=device == "cpu", seed=42,
                             bf16=device == "cuda")
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator)
    t0 = time.perf_counter()
    trainer.train()
    return s["steps"] * s["batch"] * s["seq"] / (time.perf_counter() - t0)


def mfu(tokens_per_s: float, n_params: int, s: dict, peak: float | None) -> float | None:
    if not peak:
        return None
    dense = n_params - s["vocab_size"] * s["hidden_size"]  # the input embedding is a lookup, not a matmul
    flops_per_token = 6 * dense + 12 * s["num_hidden_layers"] * s["hidden_size"] * s["seq"]
    return round(tokens_per_s * flops_per_token / peak, 4)


# -- issue #29 item 5: LoRA/QLoRA tuning, 4/8-bit eval, the dtype actually used; a PASS/FAIL/SKIP per check ----------
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _weight_dtypes(model) -> dict:
    """Elements per dtype over the model's parameters (4-bit weights are packed uint8)."""
    count = collections.Counter()
    for param in model.parameters():
        count[_dtype_name(param.dtype)] += param.numel()
    return dict(count)


def _main_float(weights: dict) -> str | None:
    floats = {k: v for k, v in weights.items() if "float" in k}
    return max(floats, key=floats.get) if floats else None


def dtype_probe(seen: dict):
    """A TrainerCallback recording what the Trainer really trains with: its bf16 flag, the dtypes of all and of the
    trainable weights (by element count), and the compute dtype of 4-bit layers."""
    from transformers import TrainerCallback

    class Probe(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            trainable = collections.Counter()
            for param in model.parameters():
                if param.requires_grad:
                    trainable[_dtype_name(param.dtype)] += param.numel()
            compute = {_dtype_name(m.compute_dtype) for m in model.modules() if getattr(m, "compute_dtype", None) is not None}
            seen.update(trainer_bf16=bool(args.bf16), weights=_weight_dtypes(model), trainable=dict(trainable),
                        compute_4bit=sorted(compute))

    return Probe()


def adapter_tune(path: Path, root: Path, out: Path, s: dict, device: str, method: str) -> dict:
    """``method`` lora or qlora through medtune's tuning path (tuning.methods.lora), r16 on every linear projection,
    the recipe's dtype left at auto (bf16 on CUDA); figures from the variant's lineage record."""
    seen: dict = {}
    steps = s["adapter_steps"]
    extra = {"train.max_steps": steps, "train.eval_every": steps + 1, "train.log_every": steps, "train.dtype": "auto",
             "lora.r": 16, "lora.alpha": 32, "lora.dropout": 0.0, "lora.target_modules": LORA_TARGETS}
    t0 = time.perf_counter()
    res = medtune_run(path, root, out, s, device, method=method, extra=extra, callbacks=(dtype_probe(seen),))
    lin = res.lineage
    return {"method": method, "steps": steps, "batch": s["batch"], "seq": s["seq"], "tokens_per_s": lin["tokens_per_s"],
            "final_train_loss": lin["final_train_loss"], "trainable_params": lin["trainable_params"],
            "total_params": lin["total_params"], "quantised_layers": lin.get("quantised_layers"),
            "adapter_saved": (Path(res.path) / "adapter_config.json").exists(),
            "peak_memory_gib": round(lin["peak_memory_bytes"] / 2**30, 2) if lin.get("peak_memory_bytes") else None,
            "wall_s": round(time.perf_counter() - t0, 1), "dtypes": seen}


def quantized_eval(path: Path, s: dict, device: str, bits: str, ref_pick: list | None, ref_bytes: int | None) -> dict:
    """Multiple-choice scoring through medtune's hf-causal backend with ``quantize`` 4bit (nf4) or 8bit (LLM.int8)."""
    import torch

    from harness import contract
    from harness.models import load, resolve
    from tuning.models import import_bitsandbytes

    bnb = import_bitsandbytes()
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)  # LLM.int8: "cast to float16", per call
    t0 = time.perf_counter()
    lm = load(resolve(str(path)), device=device, batch_size=s["quant_batch"], quantize=bits)
    load_s = time.perf_counter() - t0
    kind = bnb.nn.Linear4bit if bits == "4bit" else bnb.nn.Linear8bitLt
    layers = [m for m in lm.model.modules() if isinstance(m, kind)]
    qs = questions(s["quant_questions"])
    reqs = [contract.loglikelihood(d, i, ctx, c) for d, (ctx, opts) in enumerate(qs) for i, c in enumerate(opts)]
    lm.loglikelihood(reqs[:8])  # warm-up
    t0 = time.perf_counter()
    res = lm.loglikelihood(reqs)
    qps = len(qs) / (time.perf_counter() - t0)
    pick = [max(range(4), key=lambda i: res[4 * d + i].logprob) for d in range(len(qs))]
    weights = _weight_dtypes(lm.model)
    compute = sorted({_dtype_name(m.compute_dtype) for m in layers if getattr(m, "compute_dtype", None) is not None})
    footprint = lm.model.get_memory_footprint()
    out = {"bits": bits, "questions": len(qs), "q_per_s": round(qps, 2), "batch": lm.batch_size,
           "quantised_layers": len(layers), "finite": all(math.isfinite(r.logprob) for r in res),
           "same_choice_as_unquantised": f"{sum(a == b for a, b in zip(pick, ref_pick))}/{len(qs)}" if ref_pick else None,
           "memory_gib": round(footprint / 2**30, 3),
           "memory_vs_unquantised": round(footprint / ref_bytes, 3) if ref_bytes else None, "load_s": round(load_s, 1),
           "dtype_used": compute[0] if bits == "4bit" and len(compute) == 1 else _main_float(weights),
           "weights": weights}
    del lm, layers
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def _finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def verdict_mc(q: dict, device: str) -> tuple[str, str]:
    """Native and lm-eval ran, gave finite scores and chose the same option on every question; a different choice
    passes only as a near-tie, i.e. native's two candidates lie within 2x the engines' largest log-prob difference,
    which itself stays within numeric noise (1 nat in bf16 on CUDA, 1e-3 in float32)."""
    if not (q["finite"] and _finite_positive(q["native_q_per_s"])):
        return "FAIL", "native scores or speed not finite"
    if "lmeval_q_per_s" not in q:
        return "FAIL", f"lm-eval side missing: {q.get('lmeval')}"
    if not (q["lmeval_finite"] and _finite_positive(q["lmeval_q_per_s"])):
        return "FAIL", "lm-eval scores or speed not finite"
    n, agree = q["questions"], int(q["agree"].split("/")[0])
    if agree == n:
        return "PASS", f"same option on all {n} questions (largest log-prob difference {q['max_abs_logprob_diff']})"
    diff, gap, cap = q["max_abs_logprob_diff"], q["disagree_max_gap"], (1.0 if device == "cuda" else 1e-3)
    if gap <= 2 * diff and diff <= cap:
        return "PASS", (f"{n - agree} of {n} near-ties chosen differently: native's two candidates {gap} nats apart, "
                        f"within 2x the engines' largest log-prob difference {diff}")
    return "FAIL", f"different option on {n - agree} of {n} questions (gap up to {gap} nats; engines differ by up to {diff})"


def verdict_generation(g: dict) -> tuple[str, str]:
    ok = _finite_positive(g.get("tokens")) and _finite_positive(g.get("gen_tokens_per_s"))
    return ("PASS", f"{g.get('tokens')} tokens generated") if ok else ("FAIL", "no tokens or speed not finite")


def verdict_quant(r: dict) -> tuple[str, str]:
    if not r["quantised_layers"]:
        return "FAIL", f"no layer was quantised to {r['bits']}"
    if not (r["finite"] and _finite_positive(r["q_per_s"])):
        return "FAIL", "scores or speed not finite"
    return "PASS", f"{r['quantised_layers']} {r['bits']} layers, finite scores (same choices as unquantised: informative only)"


def verdict_adapter(r: dict) -> tuple[str, str]:
    problems = []
    if not _finite_positive(r["tokens_per_s"]):
        problems.append("tokens/s not finite")
    if not (isinstance(r["final_train_loss"], float) and math.isfinite(r["final_train_loss"])):
        problems.append(f"final train loss {r['final_train_loss']}")
    if not 0 < (r["trainable_params"] or 0) < (r["total_params"] or 0):
        problems.append(f"trainable {r['trainable_params']} of {r['total_params']} parameters")
    if not r["adapter_saved"]:
        problems.append("no adapter_config.json saved")
    if r["method"] == "qlora" and not r["quantised_layers"]:
        problems.append("no 4-bit layer")
    return ("FAIL", "; ".join(problems)) if problems else \
        ("PASS", f"{r['steps']} steps, finite loss {r['final_train_loss']:.3f}, adapter saved")


def verdict_full(t: dict) -> tuple[str, str]:
    ok = _finite_positive(t["medtune_tokens_per_s"]) and _finite_positive(t["plain_trainer_tokens_per_s"]) and \
        isinstance(t.get("final_train_loss"), float) and math.isfinite(t["final_train_loss"])
    return ("PASS", "both sides ran, finite figures (the ratio is informative, not a criterion)") if ok else \
        ("FAIL", "a side did not give finite tokens/s or loss")


def dtype_report(report: dict, device: str) -> tuple[dict, str, str]:
    """The dtype each part really ran in, against bf16 on CUDA (float32 in the CPU dry run): eval weights,
    4-bit compute dtype, 8-bit's unquantised weights, and per tuning run the main float dtype of the weights
    (full, LoRA's frozen base) or the 4-bit compute dtype (QLoRA: peft keeps its other weights in float32) plus
    the Trainer's bf16 flag."""
    expected = "bfloat16" if device == "cuda" else "float32"
    used, problems = {}, []
    if report.get("_eval_dtype"):
        used["eval (hf-causal)"] = report["_eval_dtype"]
    for key in ("eval_4bit", "eval_8bit"):
        if report.get(key, {}).get("dtype_used"):
            used[key] = report[key]["dtype_used"]
    for key in ("tune_full", "tune_lora", "tune_qlora"):
        seen = report.get(key, {}).get("dtypes")
        if not seen:
            continue
        main = seen["compute_4bit"][0] if key == "tune_qlora" and len(seen["compute_4bit"]) == 1 else \
            _main_float(seen["weights"])
        used[key] = f"{main}, Trainer bf16={seen['trainer_bf16']}"
        if seen["trainer_bf16"] != (expected == "bfloat16"):
            problems.append(f"{key}: Trainer bf16={seen['trainer_bf16']}")
        if main != expected:
            problems.append(f"{key}: {main}")
    problems += [f"{k}: {v}" for k, v in used.items() if not k.startswith("tune_") and v != expected]
    out = {"expected": expected, "used": used}
    if not used:
        return out, "FAIL", "no part ran"
    if problems:
        return out, "FAIL", f"expected {expected}: " + "; ".join(problems)
    if device != "cuda":
        return out, "SKIP", "CPU dry run: every part in float32 as expected there; bf16 is checked on CUDA"
    return out, "PASS", f"every part ran in bfloat16 ({len(used)} parts)"


class Checks:
    """Runs each check once: its figures and PASS/FAIL (or SKIP: a dry run without a CPU kernel for it) go into the
    report, which is rewritten after every check, so a run cut short still leaves its figures."""

    def __init__(self, report: dict, out: str | None, t0: float, budget_s: float | None, dry_run: bool):
        self.report, self.out, self.t0, self.budget_s, self.dry_run = report, out, t0, budget_s, dry_run
        self.status: dict[str, tuple[str, str]] = {}

    def run(self, name: str, fn, verdict, cpu_skip_on: tuple[str, ...] = ()) -> dict | None:
        elapsed = time.perf_counter() - self.t0
        if self.budget_s is not None and elapsed > self.budget_s:
            return self.record(name, None, "FAIL", f"not started: {elapsed:.0f} s past the {self.budget_s:.0f} s budget")
        try:
            result = fn()
        except Exception as exc:  # one check failing does not stop the others
            import traceback

            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if self.dry_run and any(w in f"{type(exc).__name__} {exc}" for w in cpu_skip_on):
                return self.record(name, None, "SKIP", f"no CPU support here ({type(exc).__name__}: {first})")
            print("".join(traceback.format_exception(exc)[-6:]), file=sys.stderr, end="")
            return self.record(name, None, "FAIL", f"{type(exc).__name__}: {first}")
        finally:
            _free_cuda()
        status, reason = verdict(result)
        return self.record(name, result, status, reason)

    def record(self, name: str, result: dict | None, status: str, reason: str) -> dict | None:
        self.status[name] = (status, reason)
        entry = dict(result or {})
        entry.update(status=status, reason=reason)
        self.report[name] = entry
        self.report["checks"] = {k: v[0] for k, v in self.status.items()}
        print(f"  -> {name}: {status} ({reason})", flush=True)
        self.write()
        return result

    def write(self) -> None:
        if self.out:
            public = {k: v for k, v in self.report.items() if not k.startswith("_")}
            Path(self.out).write_text(json.dumps(public, indent=2, default=str))


def _free_cuda() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on CPU (checks the script, not a GPU)")
    p.add_argument("--runs", type=int, default=2, help="timed runs of each side of the full-tuning comparison (median)")
    p.add_argument("--out", default=None, help="write the figures here as JSON (rewritten after each check)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="start no further check after this many seconds (default 390 on CUDA, none in a dry run)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (model, variants)")
    a = p.parse_args()
    import torch

    from harness import settings

    settings.offline_defaults()
    if not a.dry_run and not torch.cuda.is_available():
        print("no CUDA device here: run with --dry-run for the CPU check of this script", file=sys.stderr)
        return 2
    s, device = (DRY, "cpu") if a.dry_run else (FULL, "cuda")
    budget = a.budget_s if a.budget_s is not None else (None if a.dry_run else 390.0)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    peak = float(os.environ["GPU_PEAK_TFLOPS"]) * 1e12 if os.environ.get("GPU_PEAK_TFLOPS") else \
        next((v for k, v in PEAKS.items() if k in name), None)
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    t_all = time.perf_counter()
    path, n = build_model(tmp / "llama", s, device)
    report = {"device": name, "params": n, "dry_run": a.dry_run, "shape": {k: s[k] for k in list(s)[:6]},
              "versions": _versions()}
    checks = Checks(report, a.out, t_all, budget, a.dry_run)
    print(f"{name}: random-init Llama, {n / 1e9:.2f}B parameters ({path}); "
          + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    state: dict = {}

    def multiple_choice() -> dict:
        q = mcq(path, s, device)
        lm = state["lm"] = q.pop("_lm")
        state["pick"] = q.pop("_pick")
        state["bytes"] = lm.model.get_memory_footprint()
        report["_eval_dtype"] = _dtype_name(next(lm.model.parameters()).dtype)
        print(f"multiple choice: native {q['native_q_per_s']} q/s (batch {q['native_batch']})" +
              (f", lm-eval HF {q['lmeval_q_per_s']} q/s (batch {q['lmeval_batch']}), same choice {q['agree']}, "
               f"ratio {q['ratio_native_over_lmeval']}x, largest log-prob difference {q['max_abs_logprob_diff']}"
               if "lmeval_q_per_s" in q else f"; lm-eval: {q['lmeval']}"))
        return q

    def gen() -> dict:
        from harness.models import load, resolve

        lm = state.pop("lm", None) or load(resolve(str(path)), device=device, batch_size="auto")
        g = generation(lm, s)
        del lm
        print(f"generation: {g['gen_tokens_per_s']} tokens/s ({g['prompts']} prompts, {g['tokens']} tokens)")
        return g

    def quant(bits: str):
        def run() -> dict:
            r = quantized_eval(path, s, device, bits, state.get("pick"), state.get("bytes"))
            print(f"{bits} eval (hf-causal, bitsandbytes): {r['q_per_s']} q/s (batch {r['batch']}), "
                  f"{r['quantised_layers']} quantised layers, memory {r['memory_gib']} GiB "
                  f"({r['memory_vs_unquantised']}x unquantised), same choice as unquantised "
                  f"{r['same_choice_as_unquantised']} (random weights: informative only), compute dtype {r['dtype_used']}")
            return r
        return run

    def adapter(method: str):
        def run() -> dict:
            r = adapter_tune(path, root, tmp / f"{method}-0", s, device, method)
            full = report.get("tune_full", {}).get("medtune_tokens_per_s")
            print(f"{method} tuning (medtune tune, r16 on {len(LORA_TARGETS)} projections, batch {s['batch']} x seq "
                  f"{s['seq']}, {r['steps']} steps): {r['tokens_per_s']:,.0f} tokens/s, loss {r['final_train_loss']:.4f}, "
                  f"trainable {r['trainable_params']:,} of {r['total_params']:,}, peak {r['peak_memory_gib']} GiB"
                  + (f", {r['quantised_layers']} nf4 layers" if method == "qlora" else ""))
            return r
        return run

    def full_tuning() -> dict:
        seen: dict = {}
        medtune_tune(path, root, tmp / "warm-m", s, device)  # untimed warm-ups (allocator, kernels, imports)
        plain_trainer(path, root, tmp / "warm-p", s, device)
        ours, theirs, losses = [], [], []
        for i in range(a.runs):
            res = medtune_run(path, root, tmp / f"m{i}", s, device, callbacks=(dtype_probe(seen),) if i == 0 else ())
            ours.append(float(res.lineage["tokens_per_s"]))
            losses.append(res.lineage["final_train_loss"])
            theirs.append(plain_trainer(path, root, tmp / f"p{i}", s, device))
        o, t = statistics.median(ours), statistics.median(theirs)
        tu = {"batch": s["batch"], "seq": s["seq"], "steps": s["steps"], "runs": a.runs,
              "medtune_tokens_per_s": round(o, 1), "plain_trainer_tokens_per_s": round(t, 1),
              "medtune_mfu": mfu(o, n, s, peak), "plain_mfu": mfu(t, n, s, peak),
              "ratio_medtune_over_plain": round(o / t, 3), "final_train_loss": losses[-1], "dtypes": seen}
        print(f"tuning (batch {s['batch']} x seq {s['seq']}, {s['steps']} steps): medtune {o:,.0f} tokens/s "
              f"(MFU {tu['medtune_mfu']}), plain HF Trainer {t:,.0f} tokens/s (MFU {tu['plain_mfu']}), "
              f"ratio {tu['ratio_medtune_over_plain']}")
        return tu

    checks.run("multiple_choice", multiple_choice, lambda q: verdict_mc(q, device))
    checks.run("generation", gen, verdict_generation)
    state.pop("lm", None)
    bnb_words = ("bitsandbytes", "bnb", "Linear4bit", "Linear8bit", "NotImplementedError")
    checks.run("eval_4bit", quant("4bit"), verdict_quant, cpu_skip_on=bnb_words)
    checks.run("eval_8bit", quant("8bit"), verdict_quant, cpu_skip_on=bnb_words)
    root = tmp / "data"
    corpus(root)
    checks.run("tune_lora", adapter("lora"), verdict_adapter)
    checks.run("tune_qlora", adapter("qlora"), verdict_adapter, cpu_skip_on=bnb_words)
    checks.run("tune_full", full_tuning, verdict_full)
    used, status, reason = dtype_report(report, device)
    print(f"bf16 (the dtype actually used): " + ", ".join(f"{k} {v}" for k, v in used["used"].items()))
    checks.record("bf16", used, status, reason)

    report["wall_s"] = round(time.perf_counter() - t_all, 1)
    q, tu = report.get("multiple_choice", {}), report.get("tune_full", {})
    print(f"ratios: native/lm-eval {q.get('ratio_native_over_lmeval', 'n/a')}, medtune/plain tune "
          f"{tu.get('ratio_medtune_over_plain', 'n/a')}; {report['wall_s']} s in all")
    counts = collections.Counter(v[0] for v in checks.status.values())
    report["ok"] = counts["FAIL"] == 0
    print(f"summary: {len(checks.status)} checks, PASS {counts['PASS']}, FAIL {counts['FAIL']}, SKIP {counts['SKIP']}")
    for key, (st, why) in checks.status.items():
        print(f"  {st:4}  {key:16} {why}")
    checks.write()
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if counts["FAIL"] else 0


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for dist in ("torch", "transformers", "accelerate", "peft", "numpy", "lm-eval", "bitsandbytes", "duckdb"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


if __name__ == "__main__":
    sys.exit(main())
