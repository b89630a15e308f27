"""Native engine vs lm-eval's HF backend on the same suite slice, model and device.

    python bench/qa_engine_bench.py [--suite medqa_usmle] [--variant smollm2-135m] [--limit 24] [--repeats 3]

Both engines score identical (context, continuation) requests with the same loaded weights
(lm-eval's HFLM is handed medtune's model object). Prints examples/s of each per repeat, the
medians and their ratio, and checks that the chosen options agree on every question.
Target (issue 2): native >= 2x lm-eval on medqa_usmle with smollm2-135m on CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval and datasets progress bars would bury the figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="medqa_usmle")
    p.add_argument("--variant", default="smollm2-135m")
    p.add_argument("--limit", type=int, default=24)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    args = p.parse_args()

    import numpy as np
    import torch

    from harness import settings
    from harness.engine import score_docs
    from harness.lmeval_bridge import lmeval_loglikelihoods, make_hflm
    from harness.models import load, resolve
    from suites import load_suite

    settings.offline_defaults()
    suite = load_suite(args.suite)
    docs = suite.docs(settings.data_root(args.data_root), limit=args.limit)
    lm = load(resolve(args.variant), device=args.device, batch_size=args.batch_size)
    hflm = make_hflm(lm)
    print(f"{args.suite}: {len(docs)} questions, {args.variant} on {lm.device} ({lm.dtype}), "
          f"batch {lm.batch_size}, torch threads {torch.get_num_threads()}")

    score_docs(suite, lm, docs[:2])  # warm-up (allocator, kernels)
    native_rates, lmeval_rates = [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        ours = score_docs(suite, lm, docs)
        native_rates.append(len(docs) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        theirs = lmeval_loglikelihoods(suite, docs, hflm)
        lmeval_rates.append(len(docs) / (time.perf_counter() - t0))
        agree = sum(s.prediction == int(np.argmax([ll for ll, _ in pairs])) for s, pairs in zip(ours, theirs))
        worst = max(float(np.max(np.abs(np.array(s.record["loglikelihoods"]) - np.array([ll for ll, _ in pairs]))
                              / np.maximum(1e-9, np.abs([ll for ll, _ in pairs])))) for s, pairs in zip(ours, theirs))
        print(f"repeat {r + 1}: native {native_rates[-1]:.2f} ex/s   lm-eval {lmeval_rates[-1]:.2f} ex/s   "
              f"chosen options agree {agree}/{len(docs)}   max rel. loglik diff {worst:.1e}")
        if agree != len(docs):
            sys.exit("FAIL: the engines chose different options")
    nat, ref = statistics.median(native_rates), statistics.median(lmeval_rates)
    print(f"median: native {nat:.2f} ex/s, lm-eval {ref:.2f} ex/s, ratio native/lm-eval = {nat / ref:.2f}x (target >= 2x)")


if __name__ == "__main__":
    main()
