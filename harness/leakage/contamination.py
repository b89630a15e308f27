"""Train/eval contamination per suite item, clean-subset metrics, and overlap between a suite's splits."""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from harness.errors import MedtuneError
from harness.leakage.index import COMMON, ContaminationIndex, Item, ScanStats, as_blocks
from harness.leakage.text import Document, item_text, normalize


def suite_items(data_root: Path, names: list[str] | None = None) -> tuple[list[Item], dict[str, str]]:
    """Every item of every suite (or of ``names``) as text; suites whose data is missing are skipped."""
    from suites import list_suites, load_suite

    items, skipped = [], {}
    for name in names or list_suites():
        try:
            docs = load_suite(name).docs(data_root)
        except MedtuneError as exc:
            if names:  # asked for by name: a real error
                raise
            skipped[name] = str(exc)
            continue
        items += [Item(name, str(d["id"]), item_text(d)) for d in docs]
    return items, skipped


def contamination(items: list[Item], documents: Iterable = (), n: int = 13, threshold: float = 0.5,
                  shingle: int = 3, num_perm: int = 64, min_overlap: float = 0.0,
                  progress: Callable[[int], None] | None = None, common: int | None = COMMON,
                  corpus_specs: list[str] | None = None, text_field: str = "text", engine: str = "local",
                  scheduler: str | None = None, workers: int | None = None) -> tuple[list[dict], ScanStats]:
    """One row per item: n-gram overlap, best near-duplicate Jaccard, flag, matched source and evidence.

    The training text is ``documents`` (Documents or ``harness.corpus`` Blocks) followed by the files
    named by ``corpus_specs`` (files, folders, globs; ``text_field`` of JSON Lines / Parquet), streamed.
    ``engine`` "local" scans on ``workers`` threads (default 2, at most one a CPU), "dask" each corpus file
    as a task on a dask cluster (``scheduler`` address, else a local one of ``workers``): the same rows. An item is contaminated when more than
    ``min_overlap`` of its n-grams occur in the training text (0: any one, the GPT-3 / lm-eval rule;
    n-grams more than ``common`` items of its suite share do not count, None: all count) or a
    near-duplicate reaches ``threshold``.
    """
    with _no_gc():
        return _contamination(items, documents, n, threshold, shingle, num_perm, min_overlap, progress, common,
                              corpus_specs, text_field, engine, scheduler, workers)


@contextlib.contextmanager
def _no_gc():
    """The scan makes tens of thousands of small objects (rows, sources) while a big heap is alive (the
    suites' documents): the cyclic collector's full passes would cost more than the scan. Nothing here
    makes reference cycles, so it is paused for the duration."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _contamination(items, documents, n, threshold, shingle, num_perm, min_overlap, progress, common,
                   corpus_specs, text_field, engine, scheduler, workers):
    from harness import corpus

    jobs = min(workers or 2, os.cpu_count() or 1)
    index = ContaminationIndex(items, n=n, shingle=shingle, threshold=threshold, num_perm=num_perm, common=common,
                               workers=jobs if engine == "local" else 1)
    specs = list(corpus_specs or [])
    if engine == "dask":
        from harness.leakage.engine import dask_scan

        results, stats = dask_scan(index, as_blocks(documents), specs, text_field, scheduler=scheduler,
                                   workers=workers)
    elif engine == "local":
        from harness.leakage import parallel

        size = parallel.PARALLEL_BLOCK_CHARS if jobs > 1 else corpus.BLOCK_CHARS
        blocks = itertools.chain(as_blocks(documents, size), corpus.blocks(specs, text_field, size) if specs else ())
        results, stats = index.scan(blocks, progress, lambda b, p: parallel.scan_blocks(index, b, jobs, p))
    else:
        raise MedtuneError(f"--engine {engine!r}: use local or dask")
    return rows_of(items, results, threshold, min_overlap), stats


def rows_of(items: list[Item], results, threshold: float, min_overlap: float) -> list[dict]:
    rows = []
    for item, res in zip(items, results):
        by_ngram = res.ngram_overlap > min_overlap
        by_near = res.near_dup_jaccard >= threshold
        source = res.ngram_source if by_ngram else (res.near_source if by_near else None)
        evidence = list(res.evidence) if by_ngram else []
        if by_near:
            evidence.append({"near_duplicate": res.near_source, "jaccard": res.near_dup_jaccard})
        rows.append({"suite": item.suite, "doc_id": item.doc_id, "ngram_overlap": res.ngram_overlap,
                     "near_dup_jaccard": res.near_dup_jaccard, "contaminated": bool(by_ngram or by_near),
                     "matched_source": source, "evidence": evidence})
    return rows


def clean_metrics(store, variant: str, item_rows: list[dict], seed: int = 0) -> list[dict]:
    """Each suite's per-sample metrics on all scored items and on the uncontaminated ones.

    Reads the variant's latest run of each suite (``samples.scores``); suites it never ran are absent.
    """
    from harness.stats import bootstrap_ci

    dirty: dict[str, set[str]] = {}
    for r in item_rows:
        if r["contaminated"]:
            dirty.setdefault(r["suite"], set()).add(r["doc_id"])
    suites = sorted({r["suite"] for r in item_rows})
    if not suites:
        return []
    from harness.store.runs import latest_run_samples

    samples = latest_run_samples(store, variant, suites)  # empty when the DB does not exist yet
    out = []
    for (suite, run_id), group in samples.groupby(["suite", "run_id"]):
        scores = [json.loads(s) if isinstance(s, str) else (s or {}) for s in group["scores"]]
        clean = ~group["doc_id"].astype(str).isin(dirty.get(suite, set())).to_numpy()
        for metric in sorted({k for s in scores for k, v in s.items() if isinstance(v, (int, float))}):
            values = np.array([float(s.get(metric, np.nan)) for s in scores])
            have = ~np.isnan(values)
            full, kept = values[have], values[have & clean]
            point, low, high = bootstrap_ci(kept, seed=seed) if len(kept) else (None, None, None)
            out.append({"suite": suite, "run_id": run_id, "metric": metric, "full_value": float(full.mean()) if len(full) else None,
                        "full_n": int(len(full)), "clean_value": point, "clean_n": int(len(kept)),
                        "clean_ci_low": low, "clean_ci_high": high})
    return out


def suite_splits(suite) -> list[str]:
    splits = ["eval", *suite.spec.splits]
    if suite.spec.data.fewshot_path:
        splits.append("fewshot")
    return list(dict.fromkeys(splits))


def split_overlap(data_root: Path, names: list[str] | None = None, threshold: float = 0.5, shingle: int = 3,
                  num_perm: int = 64) -> list[dict]:
    """For each suite with several splits: items of one split found (exactly / nearly) in another."""
    from suites import list_suites, load_suite

    rows, seen = [], set()
    for name in names or list_suites():
        suite = load_suite(name)
        splits = suite_splits(suite)
        key = (str(suite.spec.data.path), tuple(splits), suite.spec.process_docs)
        if len(splits) < 2 or key in seen:
            continue  # one split, or the same data as a suite already checked (pubmedqa_noabstract)
        seen.add(key)
        try:
            texts = {s: [item_text(d) for d in suite.load_docs(data_root, split=s)] for s in splits}
        except MedtuneError:
            continue
        for a, b in itertools.combinations(splits, 2):
            a, b = (b, a) if a == "eval" else (a, b)  # "is the eval split found in the other one"
            rows.append({"suite": name, **_overlap(a, texts[a], b, texts[b], threshold, shingle, num_perm)})
    return rows


def _overlap(name_a: str, a: list[str], name_b: str, b: list[str], threshold, shingle, num_perm) -> dict:
    exact_a = {" ".join(normalize(t).split()) for t in a}
    exact = [" ".join(normalize(t).split()) in exact_a for t in b]
    near = exact
    if a and b:
        index = ContaminationIndex([Item("", str(i), t) for i, t in enumerate(a)], shingle=shingle,
                                   threshold=threshold, num_perm=num_perm)
        found = index.near_duplicates(b)
        near = [e or any(j >= threshold for _, j in f) for e, f in zip(exact, found)]
    return {"split_a": name_a, "split_b": name_b, "n_a": len(a), "n_b": len(b), "exact": int(sum(exact)),
            "near": int(sum(near))}
