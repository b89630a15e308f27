"""Speed of the leakage audit's contamination scan: the whole corpus/biomed_sentences.txt (11.8 MB)
against the items of every suite, ours vs lm-eval's decontamination Janitor on the same inputs.

    python bench/leakage_bench.py [--runs 3] [--peer-runs 3] [--data-root DIR]

Ours: 13-gram overlap + MinHash LSH near-duplicates (harness.leakage.contamination), timed from
reading the corpus to the per-item rows, index build included. Peer: lm_eval.decontamination.janitor
.Janitor in its pure-Python mode (its C++ helper is not shipped in the wheel): every suite item
registered as a contaminant, then ``clean_python`` over every corpus line (13-grams only, no
near-duplicates). Suite items are loaded once, outside both timings. Prints medians.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ours(items, corpus: Path) -> tuple[float, int, dict]:
    from harness.leakage.contamination import contamination
    from harness.leakage.text import read_documents

    t0, c0 = time.perf_counter(), time.process_time()
    rows, stats = contamination(items, read_documents(corpus))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return seconds, cpu, sum(r["contaminated"] for r in rows), stats.sketched


def peer(items, corpus: Path) -> tuple[float, float, int]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lm_eval.decontamination.janitor import Janitor, word_ngrams

        t0, c0 = time.perf_counter(), time.process_time()
        janitor = Janitor(ngram_n=13)
        for item in items:
            janitor.register_contaminant_python(item.text)
        dirty_lines = 0
        with open(corpus, encoding="utf-8") as fh:
            for line in fh:
                # clean_python's test, without its chunk splicing: does any 13-gram of the line match?
                if any(janitor.normalize_string(g) in janitor.dirt_ngrams for g in word_ngrams(line, 13)):
                    dirty_lines += 1
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return seconds, cpu, dirty_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, default=3)
    parser.add_argument("--data-root", default=os.environ.get("MEDTUNE_DATA", "/work/shared/data"))
    args = parser.parse_args()
    root = Path(args.data_root)
    corpus = root / "corpus" / "biomed_sentences.txt"
    from harness.leakage.contamination import suite_items

    t0 = time.perf_counter()
    items, skipped = suite_items(root)
    load_s = time.perf_counter() - t0
    mb = corpus.stat().st_size / 1e6
    suites = sorted({it.suite for it in items})
    print(f"corpus {corpus} ({mb:.1f} MB); {len(items):,} items of {len(suites)} suites ({', '.join(suites)}) "
          f"loaded in {load_s:.1f} s (not timed below); cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}")
    if skipped:
        print(f"skipped suites: {', '.join(skipped)}")

    our_runs, our_cpu = [], []
    for i in range(args.runs):
        seconds, cpu, flagged, sketched = ours(items, corpus)
        our_runs.append(seconds)
        our_cpu.append(cpu)
        print(f"  ours run {i + 1}: {seconds:.2f} s wall, {cpu:.2f} s CPU, {flagged} items flagged, "
              f"{sketched:,} documents sketched")
    peer_runs, peer_cpu = [], []
    for i in range(args.peer_runs):
        seconds, cpu, dirty = peer(items, corpus)
        peer_runs.append(seconds)
        peer_cpu.append(cpu)
        print(f"  lm-eval Janitor run {i + 1}: {seconds:.2f} s wall, {cpu:.2f} s CPU, {dirty} corpus lines with a suite 13-gram")
    # wall time is what the target names; on a shared box it is mostly other people's load, so
    # the CPU time of this process is printed beside it (and the ratio on both)
    o, oc = statistics.median(our_runs), statistics.median(our_cpu)
    print(f"ours (13-gram + MinHash LSH): median {o:.2f} s wall / {oc:.2f} s CPU over {len(our_runs)} runs, "
          f"{mb / o:.2f} MB/s wall, {mb / oc:.2f} MB/s CPU [target < 30 s wall: {'met' if o < 30 else 'NOT met'}]")
    if peer_runs:
        p, pc = statistics.median(peer_runs), statistics.median(peer_cpu)
        print(f"lm-eval Janitor (13-gram only, Python mode): median {p:.2f} s wall / {pc:.2f} s CPU over "
              f"{len(peer_runs)} runs, {mb / p:.2f} MB/s wall")
        print(f"speed-up ours / peer: {p / o:.1f}x wall, {pc / oc:.1f}x CPU")
    print(f"load average after: {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
