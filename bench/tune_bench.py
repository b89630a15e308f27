"""Tuning throughput: ``medtune tune`` (tuning.train.tune, the library function behind the CLI) vs a
plain Hugging Face Trainer script, same model, data, sequence length, batch and steps (causal LM, dapt).

    python bench/tune_bench.py [--runs 3] [--steps 64] [--batch 4] [--seq 128] [--model tiny|smollm2|DIR]

``tiny``: tests/tiny_models.make_tiny_causal at hidden 256 (a few seconds a run); ``smollm2``: the
built-in SmolLM2-135M. Data: the first ``--limit`` lines of corpus/biomed_sentences.txt under
$MEDTUNE_DATA. Both sides: packed blocks of ``--seq`` tokens, no evaluation, no checkpoint inside the
timed steps (medtune's eval/save interval is set past the last step). tokens/s = input tokens of the
training steps / their wall time, from the Trainer's train-begin to its last step-end, taken by the same
callback on both sides (``step_clock``). Beside it, medtune's own end-to-end figure (lineage.tokens_per_s:
the whole ``trainer.train()``, which for medtune also holds its data loader start and the run's end, its
final evaluation and checkpoint: ~10% of the call at 64 steps, ~30% at 16; the plain script's call has
neither, so only the steps are compared). Prints each run, medians and the ratio (target >= 1.0).

Both sides run once untimed first (the first Trainer run in a process pays one-off costs: thread
pools, allocator, lazy imports; the 0.71 smoke figure was that, medtune ran first), then the order
alternates run by run. Profiled (cProfile over ``Trainer.train``), medtune's extras inside the timed
call are the final evaluation (``data.eval_size`` 4 sequences) and the final checkpoint save,
~0.1 s together on the tiny model; callbacks, logging and token counting are below 0.02 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def step_clock():
    """A TrainerCallback timing the training steps: ``rate(tokens)`` over train-begin to the last step-end."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        t0 = t1 = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.t1 = time.perf_counter()

        def rate(self, tokens: int) -> float:
            return tokens / (self.t1 - self.t0)

    return StepClock()


def medtune(base: str, root: Path, out: Path, a) -> tuple[float, float]:
    """(tokens/s of the training steps, medtune's recorded tokens/s of the whole train call)."""
    from harness.store import Store
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    sets = {"base": base, "name": f"bench-{out.name}", "output_dir": str(out), "data.files": ["corpus/biomed_sentences.txt"],
            "data.limit": a.limit, "data.eval_size": 4, "train.max_steps": a.steps, "train.batch": a.batch,
            "train.grad_accum": 1, "train.seq_length": a.seq, "train.eval_every": a.steps + 1,
            "train.log_every": a.steps, "train.patience": None, "data.replay": None, "data.canaries": None}
    spec = load_recipe("demo_dapt_smollm2", sets)
    clock = step_clock()
    ctx = TuneContext(store=Store(out.parent / f"{out.name}.duckdb"), data_root=root, output=spec.output_path(),
                      show_progress=False, echo=lambda m: None, callbacks=[clock])
    recorded = float(tune(spec, ctx, force=True).lineage["tokens_per_s"])
    return clock.rate(a.steps * a.batch * a.seq), recorded


def plain(base: str, root: Path, out: Path, a) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, default_data_collator

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    lines = []
    with open(root / "corpus" / "biomed_sentences.txt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                lines.append(line.strip())
            if len(lines) >= a.limit:
                break
    ids = [t for ids in tok(lines)["input_ids"] for t in ids + [tok.eos_token_id]]
    blocks = [ids[i:i + a.seq] for i in range(0, len(ids) - a.seq + 1, a.seq)]
    data = [{"input_ids": b, "labels": b, "attention_mask": [1] * a.seq} for b in blocks]
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=a.batch, max_steps=a.steps,
                             learning_rate=5e-5, save_strategy="no", eval_strategy="no", report_to="none",
                             logging_steps=a.steps, disable_tqdm=True, use_cpu=True, seed=42)
    clock = step_clock()
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator,
                      callbacks=[clock])
    trainer.train()
    return clock.rate(a.steps * a.batch * a.seq)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--steps", type=int, default=64)  # 16 steps (~0.6 s a run) read mostly noise here
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--model", default="tiny")
    p.add_argument("--data-root", default=os.environ.get("MEDTUNE_DATA", "/work/shared/data"))
    a = p.parse_args()
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = Path(a.data_root)
    tmp = Path(tempfile.mkdtemp(prefix="tune_bench_"))
    if a.model == "tiny":
        from tests.tiny_models import make_tiny_causal

        base = str(make_tiny_causal(tmp / "tiny", hidden_size=256, intermediate_size=512))
    elif a.model == "smollm2":
        from harness.models.builtin import builtin_path

        base = str(builtin_path("smollm2-135m"))
    else:
        base = a.model
    print(f"model {a.model} ({base}), batch {a.batch} x seq {a.seq}, {a.steps} steps, torch threads "
          f"{torch.get_num_threads()}, cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}")
    medtune(base, root, tmp / "warm-m", a), plain(base, root, tmp / "warm-p", a)  # untimed warm-up
    ours, recorded, theirs = [], [], []
    for i in range(a.runs):
        if i % 2:
            theirs.append(plain(base, root, tmp / f"p{i}", a))
        step, rec = medtune(base, root, tmp / f"m{i}", a)
        if not i % 2:
            theirs.append(plain(base, root, tmp / f"p{i}", a))
        ours.append(step)
        recorded.append(rec)
        print(f"  run {i + 1}: medtune tune {ours[-1]:,.0f} tokens/s (its whole train call: {rec:,.0f}), "
              f"plain Trainer {theirs[-1]:,.0f} tokens/s")
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"median over {a.runs} runs: medtune {o:,.0f} tokens/s, plain HF Trainer {t:,.0f} tokens/s, "
          f"ratio {o / t:.2f} [target >= 1.0: {'met' if o / t >= 1.0 else 'NOT met'}]; medtune's recorded "
          f"tokens/s (final evaluation and checkpoint included) {statistics.median(recorded):,.0f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
