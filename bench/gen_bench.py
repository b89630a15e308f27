"""Generation speed: medtune's causal backend vs lm-eval's HF backend on the same generative suite.

    python bench/gen_bench.py [--suite pubmedqa_gen] [--variant smollm2-135m] [--limit 16]
                              [--max-new-tokens 32] [--repeats 3] [--batch-size 8] [--device auto]

Both engines get the same prompts (the suite's rendered ``generate_until`` requests), the same
loaded model object and tokenizer, batch size and device; lm-eval's ``HFLM.generate_until`` runs
``model.generate`` with its stop-sequence criteria, medtune's ``generate_until`` its own KV-cache
decode loop (rows leave the batch at EOS, a stop string or their budget). Prints the median wall
time of ``--repeats`` runs of each (alternating order), prompts/s, the ratio, and whether the greedy
generations are identical. Target (issue #15): medtune at least as fast, identical generations.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="pubmedqa_gen")
    p.add_argument("--variant", default="smollm2-135m")
    p.add_argument("--limit", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from lm_eval.api.instance import Instance

    from harness import settings
    from harness.models import load, resolve
    from suites import load_suite

    suite = load_suite(args.suite, {"max_new_tokens": args.max_new_tokens},
                       data_root=settings.data_root(args.data_root))
    docs = suite.docs(limit=args.limit)
    reqs = [r for i, d in enumerate(docs) for r in suite.type.requests(i, d)]
    lm = load(resolve(args.variant), device=args.device, batch_size=args.batch_size)
    theirs = lm.lm_eval_model()
    inst = [Instance("generate_until", {}, (r.args[0], {"until": list(r.args[1]), "max_gen_toks": r.args[2],
                                                        "do_sample": False}), i) for i, r in enumerate(reqs)]
    runs = {"medtune": (lambda: lm.generate_until(reqs)), "lm-eval": (lambda: theirs.generate_until(inst))}
    times: dict[str, list[float]] = {k: [] for k in runs}
    outs = {}
    for rep in range(args.repeats):
        for name in (list(runs) if rep % 2 == 0 else list(runs)[::-1]):
            t0 = time.perf_counter()
            outs[name] = runs[name]()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    same = sum(a == b for a, b in zip(outs["medtune"], outs["lm-eval"]))
    print(f"suite {args.suite}, {len(reqs)} prompts, max_new_tokens {args.max_new_tokens}, model {args.variant} "
          f"({lm.info.dtype}, {lm.device}), batch {lm.batch_size}, median of {args.repeats}")
    for k in runs:
        print(f"  {k:8s} {med[k]:7.2f} s  {len(reqs) / med[k]:6.2f} prompts/s  runs: "
              + ", ".join(f"{t:.2f}" for t in times[k]))
    print(f"  speed-up medtune / lm-eval: {med['lm-eval'] / med['medtune']:.2f}x")
    print(f"  identical greedy generations: {same}/{len(reqs)}")
    for a, b in zip(outs["medtune"], outs["lm-eval"]):
        if a != b:
            print(f"  first difference: medtune {a!r} vs lm-eval {b!r}")
            break


if __name__ == "__main__":
    main()
