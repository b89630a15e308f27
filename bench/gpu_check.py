"""One-GPU check (issue #16 item 5), within 8 minutes, no download: a random-init Llama-architecture
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
then the ratios. MFU = 6 x (parameters outside the input embedding) x tokens/s + attention
(12 x layers x hidden x seq per token), over the GPU's dense bf16 peak (H100/H200 989 TFLOP/s, A100 312;
override with GPU_PEAK_TFLOPS). lm-eval missing (the lent GPU image lacks it): that part says so.
"""

from __future__ import annotations

import argparse
import json
import os
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
            steps=12, batch=8, seq=1024)
DRY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, vocab_size=512, questions=12, gen_prompts=4, gen_tokens=8,
           steps=3, batch=2, seq=32)
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
    out = {"questions": len(qs), "native_q_per_s": round(native, 2), "native_batch": lm.batch_size}
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
    out.update(lmeval_q_per_s=round(ref, 2), lmeval_batch=str(getattr(hflm, "batch_size", "?")),
               agree=f"{agree}/{len(qs)}", ratio_native_over_lmeval=round(native / ref, 2))
    return out | {"_lm": lm}


def generation(lm, s: dict) -> dict:
    from harness.contract import generate_until

    reqs = [generate_until(i, f"Patient {i} presents with", until=(), max_new_tokens=s["gen_tokens"])
            for i in range(s["gen_prompts"])]
    lm.generate_until(reqs[:2])
    t0 = time.perf_counter()
    texts = lm.generate_until(reqs)
    wall = time.perf_counter() - t0
    tok = lm.tokenizer if hasattr(lm, "tokenizer") else None
    produced = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts) if tok else len(reqs) * s["gen_tokens"]
    return {"prompts": len(reqs), "tokens": produced, "gen_tokens_per_s": round(produced / wall, 1)}


def corpus(root: Path) -> None:
    from tests.tiny_models import TEXT

    (root / "corpus").mkdir(parents=True, exist_ok=True)
    (root / "corpus" / "bio.txt").write_text("\n".join(TEXT * 200) + "\n")


def medtune_tune(path: Path, root: Path, out: Path, s: dict, device: str) -> float:
    from harness.store import Store
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    sets = {"base": str(path), "name": out.name, "output_dir": str(out), "data.files": ["corpus/bio.txt"],
            "data.eval_size": 4, "train.max_steps": s["steps"], "train.batch": s["batch"], "train.grad_accum": 1,
            "train.seq_length": s["seq"], "train.eval_every": s["steps"] + 1, "train.log_every": s["steps"],
            "train.patience": None, "train.device": device, "train.dtype": "bfloat16" if device == "cuda" else "float32",
            "data.replay": None, "data.canaries": None}
    spec = load_recipe("demo_dapt_smollm2", sets)
    ctx = TuneContext(store=Store(out.parent / f"{out.name}.duckdb"), data_root=root, output=spec.output_path(),
                      show_progress=False, echo=lambda m: None)
    return float(tune(spec, ctx, force=True).lineage["tokens_per_s"])


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on CPU (checks the script, not a GPU)")
    p.add_argument("--runs", type=int, default=2, help="timed runs of each tuning side (median)")
    p.add_argument("--out", default=None, help="write the figures here as JSON")
    a = p.parse_args()
    import torch

    from harness import settings

    settings.offline_defaults()
    if not a.dry_run and not torch.cuda.is_available():
        print("no CUDA device here: run with --dry-run for the CPU check of this script", file=sys.stderr)
        return 2
    s, device = (DRY, "cpu") if a.dry_run else (FULL, "cuda")
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    peak = float(os.environ["GPU_PEAK_TFLOPS"]) * 1e12 if os.environ.get("GPU_PEAK_TFLOPS") else \
        next((v for k, v in PEAKS.items() if k in name), None)
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    t_all = time.perf_counter()
    path, n = build_model(tmp / "llama", s, device)
    report = {"device": name, "params": n, "dry_run": a.dry_run, "shape": {k: s[k] for k in list(s)[:6]}}
    print(f"{name}: random-init Llama, {n / 1e9:.2f}B parameters ({path})")

    q = mcq(path, s, device)
    lm = q.pop("_lm")
    report["multiple_choice"] = q
    print(f"multiple choice: native {q['native_q_per_s']} q/s (batch {q['native_batch']})" +
          (f", lm-eval HF {q['lmeval_q_per_s']} q/s (batch {q['lmeval_batch']}), same choice {q['agree']}, "
           f"ratio {q['ratio_native_over_lmeval']}x" if "lmeval_q_per_s" in q else f"; lm-eval: {q['lmeval']}"))
    g = generation(lm, s)
    report["generation"] = g
    print(f"generation: {g['gen_tokens_per_s']} tokens/s ({g['prompts']} prompts)")
    del lm
    if device == "cuda":
        torch.cuda.empty_cache()

    root = tmp / "data"
    corpus(root)
    medtune_tune(path, root, tmp / "warm-m", s, device)  # untimed warm-ups (allocator, kernels, imports)
    plain_trainer(path, root, tmp / "warm-p", s, device)
    ours, theirs = [], []
    for i in range(a.runs):
        ours.append(medtune_tune(path, root, tmp / f"m{i}", s, device))
        theirs.append(plain_trainer(path, root, tmp / f"p{i}", s, device))
    o, t = statistics.median(ours), statistics.median(theirs)
    report["tuning"] = {"batch": s["batch"], "seq": s["seq"], "steps": s["steps"],
                        "medtune_tokens_per_s": round(o, 1), "plain_trainer_tokens_per_s": round(t, 1),
                        "medtune_mfu": mfu(o, n, s, peak), "plain_mfu": mfu(t, n, s, peak),
                        "ratio_medtune_over_plain": round(o / t, 3)}
    tu = report["tuning"]
    print(f"tuning (batch {s['batch']} x seq {s['seq']}, {s['steps']} steps): medtune {o:,.0f} tokens/s "
          f"(MFU {tu['medtune_mfu']}), plain HF Trainer {t:,.0f} tokens/s (MFU {tu['plain_mfu']}), "
          f"ratio {tu['ratio_medtune_over_plain']}")
    report["wall_s"] = round(time.perf_counter() - t_all, 1)
    print(f"ratios: native/lm-eval {q.get('ratio_native_over_lmeval', 'n/a')}, medtune/plain tune "
          f"{tu['ratio_medtune_over_plain']}; {report['wall_s']} s in all")
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
