"""Speed of the leakage audit's contamination scan: the whole corpus/biomed_sentences.txt (11.8 MB)
against the items of every suite, ours vs lm-eval's decontamination Janitor on the same inputs.

    python bench/leakage_bench.py [--runs 3] [--peer-runs 3] [--data-root DIR] [--engine dask]
                                  [--planted 200] [--rss-mb 250 1000]

Ours: 13-gram overlap + MinHash LSH near-duplicates (harness.leakage.contamination), timed from
reading the corpus to the per-item rows, index build included: "cold" builds the suite index (an
empty MEDTUNE_CACHE), "warm" loads it from the on-disk cache (a repeated audit of the same suites,
e.g. CI on every change). ``--rss-mb`` streams generated corpora of those sizes, each in a fresh
process (peak RSS is per process), to show memory is flat in corpus size. Peer: lm_eval.decontamination.janitor
.Janitor in its pure-Python mode (its C++ helper is not shipped in the wheel): every suite item
registered as a contaminant, then ``clean_python`` over every corpus line (13-grams only, no
near-duplicates); and the Janitor "warm": its n-gram set loaded from a pickle (made untimed), then
the same lines. Ours uses ``--workers`` threads (2: the CPUs of the CI box); CPU time counts them
all. Suite items are loaded once, outside every timing. Prints medians.
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


# the rows the pre-vectorised scan (commit 2fc6061) flagged on the whole shipped corpus: (suite, doc_id, line)
REFERENCE_FLAGS = {("ner_bc5cdr", "test.tsv:765", 2204), ("ner_bc5cdr", "test.tsv:834", 2207),
                   ("ner_bc5cdr", "test.tsv:1003", 2204), ("ner_bc5cdr", "test.tsv:1039", 2207),
                   ("ner_bc5cdr", "test.tsv:1092", 674), ("ner_bc5cdr", "test.tsv:123673", 2204),
                   ("ner_bc5cdr", "test.tsv:123716", 2207), ("ner_bc5cdr", "test.tsv:123794", 674)}


def _cpu() -> float:
    """CPU seconds of this process, all its threads (the scan's and the index build's)."""
    t = os.times()
    return t.user + t.system


def ours(items, corpus: Path, engine: str = "local", cache_dir: str | None = None, workers: int = 2):
    import tempfile

    from harness.leakage.contamination import contamination

    os.environ["MEDTUNE_CACHE"] = cache_dir or tempfile.mkdtemp(prefix="leakage_cold_")
    t0, c0 = time.perf_counter(), _cpu()
    rows, stats = contamination(items, corpus_specs=[str(corpus)], engine=engine, workers=workers)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    flags = {(r["suite"], r["doc_id"], int(r["matched_source"].rsplit(":", 1)[1])) for r in rows if r["contaminated"]}
    return seconds, cpu, flags, stats.sketched


def planted(items, corpus: Path, n_plant: int = 200, seed: int = 0) -> None:
    """Verbatim and lightly edited medqa_usmle items planted in the clean corpus: recall, AUROC, false positives."""
    import random

    import numpy as np
    from scipy.stats import rankdata

    from harness.corpus import Document
    from harness.leakage.contamination import contamination

    rng = random.Random(seed)
    pool = [i for i, it in enumerate(items) if it.suite == "medqa_usmle"]
    picks = rng.sample(pool, n_plant)
    verbatim, edited = picks[: n_plant // 2], picks[n_plant // 2:]

    from harness.leakage.planted import plant

    clean = [Document(f"{corpus}:{k}", line) for k, line in enumerate(corpus.read_text().splitlines(), 1)]
    docs = plant(clean, items, verbatim, edited, rng)
    # Suites that read the same MedQA file (medqa_usmle_cot, ...) hold the same questions under the same ids:
    # their copy of a planted item is planted too, not a clean item falsely flagged.
    from suites import load_suite

    source = load_suite("medqa_usmle").spec.data.path
    same_source = {name for name in {it.suite for it in items} if load_suite(name).spec.data.path == source}
    planted_ids = {items[i].doc_id for i in picks}
    copies = [i for i, it in enumerate(items) if it.suite in same_source and it.doc_id in planted_ids]
    for label, common in (("boilerplate rule (common=3)", 3), ("any shared 13-gram (old rule)", None)):
        rows, _ = contamination(items, docs, common=common)
        score = np.array([max(r["ngram_overlap"], r["near_dup_jaccard"]) for r in rows])
        flag = np.array([r["contaminated"] for r in rows])
        clean = np.setdiff1d(np.arange(len(items)), copies)
        pos = np.array(copies)
        ranks = rankdata(np.r_[score[pos], score[clean]])
        auroc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(clean))
        print(f"  planted ({label}): verbatim found {flag[verbatim].sum()}/{len(verbatim)}, edited found "
              f"{flag[edited].sum()}/{len(edited)}, planted-above-clean AUROC {auroc:.4f}, false positives "
              f"{flag[clean].sum()}/{len(clean)} clean items ({100 * flag[clean].mean():.3f}%) "
              f"[targets: all verbatim, AUROC >= 0.99, FP < 0.5%]")


def peak_rss_child(corpus: Path, mb: int, workers: int = 2) -> None:
    """Each size in its own process: ru_maxrss is the peak of the whole process."""
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--rss-child", str(mb), "--data-root", str(corpus.parents[1]),
                          "--workers", str(workers)],
                         capture_output=True, text=True)
    print(out.stdout.rstrip() or out.stderr[-2000:])


def _rss(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss(corpus: Path, items, mb: int, workers: int = 2) -> None:
    """Stream a generated corpus of ``mb`` MB (the shipped one repeated, gzip) and report peak RSS."""
    import gzip
    import resource
    import tempfile

    from harness.leakage.contamination import contamination

    text = corpus.read_bytes()
    path = Path(tempfile.mkdtemp()) / "big.txt.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for _ in range(max(1, mb * 1_000_000 // len(text))):
            fh.write(text)
    import gc

    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now = _rss("VmRSS")
    with contextlib.suppress(OSError):  # Linux: reset the peak, so it is the scan's (not the suite loading's)
        Path("/proc/self/clear_refs").write_text("5")
    t0 = time.perf_counter()
    rows, stats = contamination(items, corpus_specs=[str(path)], workers=workers)
    seconds = time.perf_counter() - t0
    after = _rss("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  streaming {stats.bytes / 1e6:,.0f} MB (gzip, {stats.documents:,} documents, {stats.sketched:,} sketched) "
          f"in {seconds:.1f} s ({stats.bytes / 1e6 / seconds:.1f} MB/s, {workers} threads): peak RSS during the scan "
          f"{after:,.0f} MB (RSS before it {now:,.0f} MB with the suite items loaded; process peak before it "
          f"{before:,.0f} MB, from loading the suites)")
    path.unlink()


def _janitor(items):
    """lm-eval's Janitor with every item registered (its import and C++-helper warnings silenced)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lm_eval.decontamination.janitor import Janitor

        janitor = Janitor(ngram_n=13)
        for item in items:
            janitor.register_contaminant_python(item.text)
    return janitor


def peer(items, corpus: Path, pickled: str | None = None) -> tuple[float, float, int]:
    """The Janitor: items registered (or, ``pickled``, its n-gram set loaded from a pickle: the peer's
    own "warm" run), then every corpus line tested."""
    import pickle

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lm_eval.decontamination.janitor import Janitor, word_ngrams

    t0, c0 = time.perf_counter(), _cpu()
    if pickled:  # its save_contamination_ngrams pickles the file name, not the set: pickle the set
        janitor = Janitor(ngram_n=13)
        with open(pickled, "rb") as fh:
            janitor.dirt_ngrams = pickle.load(fh)
    else:
        janitor = _janitor(items)
    dirty_lines = 0
    with open(corpus, encoding="utf-8") as fh:
        for line in fh:
            # clean_python's test, without its chunk splicing: does any 13-gram of the line match?
            if any(janitor.normalize_string(g) in janitor.dirt_ngrams for g in word_ngrams(line, 13)):
                dirty_lines += 1
    return time.perf_counter() - t0, _cpu() - c0, dirty_lines


def pickle_peer(items) -> str:
    """The registered Janitor's n-gram set, pickled to a temporary file (made untimed)."""
    import pickle
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".pkl")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(_janitor(items).dirt_ngrams, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, default=3)
    parser.add_argument("--data-root", default=os.environ.get("MEDTUNE_DATA", "/work/shared/data"))
    parser.add_argument("--engine", default="local", help="local | dask (a local 2-worker cluster)")
    parser.add_argument("--workers", type=int, default=2, help="threads scanning the corpus (medtune's --workers)")
    parser.add_argument("--planted", type=int, default=200, help="items planted for recall / AUROC (0: skip)")
    parser.add_argument("--rss-mb", type=int, nargs="*", default=[],
                        help="also stream generated corpora of these many MB (one process each)")
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.data_root)
    corpus = root / "corpus" / "biomed_sentences.txt"
    from harness.leakage.contamination import suite_items

    if args.rss_child:
        import tempfile

        os.environ["MEDTUNE_CACHE"] = tempfile.mkdtemp(prefix="leakage_rss_")
        peak_rss(corpus, suite_items(root)[0], args.rss_child, args.workers)
        return

    t0 = time.perf_counter()
    items, skipped = suite_items(root)
    load_s = time.perf_counter() - t0
    mb = corpus.stat().st_size / 1e6
    suites = sorted({it.suite for it in items})
    print(f"corpus {corpus} ({mb:.1f} MB); {len(items):,} items of {len(suites)} suites ({', '.join(suites)}) "
          f"loaded in {load_s:.1f} s (not timed below); cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}")
    if skipped:
        print(f"skipped suites: {', '.join(skipped)}")

    import tempfile

    warm_dir = tempfile.mkdtemp(prefix="leakage_warm_")
    if args.runs:
        ours(items, corpus, args.engine, warm_dir, args.workers)  # fills the warm cache (not timed)
    timings = {"cold": ([], []), "warm": ([], [])}
    for i in range(args.runs):
        for kind in ("cold", "warm"):
            seconds, cpu, flagged, sketched = ours(items, corpus, args.engine, warm_dir if kind == "warm" else None,
                                                   args.workers)
            timings[kind][0].append(seconds)
            timings[kind][1].append(cpu)
            same = "the same as" if flagged == REFERENCE_FLAGS else "DIFFERENT from"
            print(f"  ours run {i + 1} ({kind} index): {seconds:.2f} s wall, {cpu:.2f} s CPU, {len(flagged)} items "
                  f"flagged ({same} the pre-vectorised scan's, lines included), {sketched:,} documents sketched")
    peer_runs = {"cold": ([], []), "warm": ([], [])}
    pickled = pickle_peer(items) if args.peer_runs else None
    for i in range(args.peer_runs):
        for kind in ("cold", "warm"):
            seconds, cpu, dirty = peer(items, corpus, pickled if kind == "warm" else None)
            peer_runs[kind][0].append(seconds)
            peer_runs[kind][1].append(cpu)
            how = "n-grams registered" if kind == "cold" else "n-grams loaded from a pickle"
            print(f"  lm-eval Janitor run {i + 1} ({how}): {seconds:.2f} s wall, {cpu:.2f} s CPU, {dirty} corpus "
                  f"lines with a suite 13-gram")
    if pickled:
        os.unlink(pickled)
    # wall time is what the target names; CPU time (all this process's threads) is
    # printed beside it: on a shared box wall time is partly other people's load
    peer_median = {}
    for kind, (walls, cpus) in peer_runs.items():
        if walls:
            p, pc = peer_median[kind] = statistics.median(walls), statistics.median(cpus)
            print(f"lm-eval Janitor, {kind} ({'registers every item' if kind == 'cold' else 'its n-gram set unpickled'}"
                  f"; 13-gram only, Python mode): median {p:.2f} s wall / {pc:.2f} s CPU over {len(walls)} runs, "
                  f"{mb / p:.2f} MB/s wall")
    for kind, (walls, cpus) in timings.items():
        if not walls:
            continue
        o, oc = statistics.median(walls), statistics.median(cpus)
        print(f"ours, {kind} index (13-gram + MinHash LSH, {args.workers} threads): median {o:.2f} s wall / "
              f"{oc:.2f} s CPU over {len(walls)} runs, {mb / o:.2f} MB/s wall, {mb / oc:.2f} MB/s CPU [target >= 25 MB/s: "
              f"{'met' if mb / o >= 25 else 'NOT met'}]")
        for peer_kind, (p, pc) in peer_median.items():
            print(f"  speed-up ours ({kind}) / Janitor ({peer_kind}): {p / o:.1f}x wall, {pc / oc:.1f}x CPU "
                  f"[target >= 10x: {'met' if p / o >= 10 else 'NOT met'}]")
    if args.planted:
        planted(items, corpus, args.planted)
    for size in args.rss_mb:
        peak_rss_child(corpus, size, args.workers)
    print(f"load average after: {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
