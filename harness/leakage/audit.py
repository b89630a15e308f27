"""``medtune audit leakage``: contamination, split overlap, membership inference and canaries, in order.

The work happens with no DB connection open; ``report.write`` stores every row in one transaction.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from harness.evaluate import file_sha256
from harness.errors import MedtuneError
from harness.leakage import lineage as lin
from harness.leakage.contamination import clean_metrics, contamination, split_overlap, suite_items
from harness.leakage.text import Document, read_documents

# task(description, total) -> advance(n): the CLI passes rich progress bars, tests nothing
TaskFactory = Callable[[str, int | None], Callable[[int], None]]


def _no_progress(description: str, total: int | None) -> Callable[[int], None]:
    return lambda n: None


@dataclass
class Settings:
    n: int = 13                   # n-gram length (GPT-3 / lm-eval: 13)
    threshold: float = 0.5        # MinHash Jaccard for a near-duplicate
    shingle: int = 3              # words per MinHash shingle
    num_perm: int = 64
    min_overlap: float = 0.0      # n-gram share above which an item is contaminated (0: any n-gram)
    suites: list[str] | None = None
    corpus: list[str] = field(default_factory=list)  # extra training text: files, folders, globs (harness.corpus)
    text_field: str = "text"      # the text of a JSON Lines record / Parquet row in --corpus
    engine: str = "local"         # local | dask (map tasks over --corpus files)
    scheduler: str | None = None  # dask scheduler address (tcp://host:8786); none: a local cluster
    workers: int = 2              # scanners of the corpus (local: threads, at most one a CPU; dask: local cluster)
    splits: bool = True
    model: bool = True            # membership inference and canaries (loads the variant)
    mia_limit: int = 200          # texts per side
    k: float = 0.2                # Min-K% fraction
    max_tokens: int = 128         # tokens per text scored for membership
    candidates: int = 200         # secrets ranked per canary
    members: str | None = None    # override the member / non-member texts (files)
    nonmembers: str | None = None
    device: str = "auto"
    seed: int = 0
    backend: str | None = None  # a registered backend name (None: from the model kind)


@dataclass
class Audit:
    audit_id: str
    variant: str
    settings: dict
    summary: dict = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    clean_metrics: list[dict] = field(default_factory=list)
    split_overlap: list[dict] = field(default_factory=list)
    membership: list[dict] = field(default_factory=list)
    canaries: list[dict] = field(default_factory=list)
    pii: list[dict] = field(default_factory=list)


def run_audit(store, variant: str, data_root: Path, settings: Settings, task: TaskFactory = _no_progress) -> Audit:
    """Under a launcher (torchrun, ``--processes N``) rank 0 alone checks the lineage and scans the text (its
    result, or its error, reaches every rank); every rank then scores its slice of the membership texts and
    canaries, and every rank returns the same audit (rank 0 alone writes it: the CLI)."""
    from harness import distributed

    main = distributed.is_main()
    audit, chain, sources, rest = distributed.on_main(
        lambda: _scan(store, variant, data_root, settings, task))
    notes = []
    if settings.model:
        notes += _model_checks(audit, store, variant, chain, sources, settings, task if main else _no_progress)
    stats, skipped, changed, unverifiable, evidence = rest
    audit.summary = _summary(audit, stats, skipped, changed, unverifiable, notes)
    # each flagged item's evidence (matched spans with their source document:line, near duplicates)
    audit.summary["evidence"] = {k: v for k, v in evidence.items() if v}
    return audit


def _scan(store, variant: str, data_root: Path, settings: Settings, task: TaskFactory):
    """Lineage checks, contamination, clean metrics and split overlap: no model."""
    if (settings.corpus or settings.members) and not lin.has_record(store, variant):
        from harness.models import resolve

        resolve(variant, store=store)  # a built-in model, HF directory or hub id: no lineage; given texts stand in
        chain = []
    else:
        chain = lin.lineage_chain(store, variant)
    sources = lin.training_sources(chain)
    if sources or not (settings.corpus or settings.members):  # given texts stand in for a missing record
        lin.require_sources(variant, chain, sources)
    from harness import corpus as corpus_reader

    corpus_reader.expand(settings.corpus)  # every --corpus names some file: fail before any work
    if settings.engine not in ("local", "dask"):
        raise MedtuneError(f"--engine {settings.engine!r}: use local or dask")
    audit = Audit(uuid.uuid4().hex[:16], variant, asdict(settings))
    audit.settings["data_files"] = [{"path": s.path, "role": s.role, "variant": s.variant, "sha256": s.sha256}
                                    for s in sources]
    changed = [s.label for s in sources if s.sha256 and s.path != "self" and file_sha256(s.path) != s.sha256]
    unverifiable = [s.label for s in sources if s.path == "self"]

    items, skipped = suite_items(data_root, settings.suites)
    docs = itertools.chain(*(lin.documents(s) for s in sources))
    audit.items, stats = contamination(items, docs, n=settings.n, threshold=settings.threshold, shingle=settings.shingle,
                                       num_perm=settings.num_perm, min_overlap=settings.min_overlap,
                                       progress=task("contamination: training documents", None),
                                       corpus_specs=settings.corpus, text_field=settings.text_field,
                                       engine=settings.engine, scheduler=settings.scheduler, workers=settings.workers)
    evidence = {f"{r['suite']}:{r['doc_id']}": r.pop("evidence") for r in audit.items}
    audit.clean_metrics = clean_metrics(store, variant, audit.items, seed=settings.seed)
    if settings.splits:
        audit.split_overlap = split_overlap(data_root, settings.suites, settings.threshold, settings.shingle,
                                            settings.num_perm)
    return audit, chain, sources, (stats, skipped, changed, unverifiable, evidence)


def _model_checks(audit: Audit, store, variant, chain, sources, settings: Settings, task) -> list[str]:
    from harness.models import load, resolve

    mia = membership_texts(sources, settings)
    canaries = lin.canaries(chain)
    if mia is None and not canaries:
        return ["membership inference: no member / held-out texts of one source in the lineage (pass --members and "
                "--nonmembers); canaries: none planted"]
    ref = resolve(variant, store=store, backend=settings.backend)
    if ref.kind != "causal":
        return [f"membership inference and canaries need a causal variant; {variant} is {ref.kind}"]
    from harness.eval_parallel import rank_device

    lm = load(ref, device=rank_device(settings.device), backend=settings.backend)  # one device per rank
    notes = []
    if mia is not None:
        from harness.leakage import membership

        members, nonmembers, m_src, n_src = mia
        advance = task("membership inference: texts", len(members) + len(nonmembers))
        m_stats = membership.token_stats(lm, members, settings.max_tokens, progress=advance)
        n_stats = membership.token_stats(lm, nonmembers, settings.max_tokens, progress=advance)
        for method, (value, low, high) in membership.auroc(m_stats, n_stats, settings.k, settings.seed).items():
            audit.membership.append({"method": method, "auroc": value, "ci_low": low, "ci_high": high,
                                     "n_members": len(members),
                                     "n_nonmembers": len(nonmembers), "k": settings.k if "min_k" in method else None,
                                     "members_source": m_src, "nonmembers_source": n_src})
    else:
        notes.append("membership inference: no member / held-out texts of one source (pass --members/--nonmembers)")
    if canaries:
        from harness.leakage.exposure import audit_canaries

        audit.canaries = audit_canaries(lm, canaries, settings.candidates, settings.seed,
                                        progress=task("canaries: exposure", len(canaries)))
        audit.pii = [f for c in audit.canaries for f in c.pop("pii")]
    return notes


def membership_texts(sources: list[lin.Source], settings: Settings):
    """(members, non-members, their sources): the same source, trained-on vs held out; sampled to ``mia_limit``.

    Members are the trained records of the first train file in the lineage (or ``--members``); non-members
    are ``--nonmembers``, else PubMedQA's official test split for a pubmedqa source, else the records that
    source held out for validation (``lineage.eval_ids``).
    """
    rng = random.Random(settings.seed)

    def sample(texts: list[str]) -> list[str]:
        return rng.sample(texts, settings.mia_limit) if len(texts) > settings.mia_limit else texts

    given_n = [d.text for d in read_documents(settings.nonmembers, "--nonmembers file")] if settings.nonmembers else None
    if settings.members:
        if given_n is None:
            raise MedtuneError("--members needs --nonmembers (held-out texts of the same source)")
        m = [d.text for d in read_documents(settings.members, "--members file")]
        return sample(m), sample(given_n), settings.members, settings.nonmembers
    for src in sources:
        if src.role != "train" or src.path == "self":
            continue
        members = [d.text for d in lin.documents(src)]
        if given_n is not None:  # members from the lineage, non-members given
            held, n_src = [Document(settings.nonmembers, t) for t in given_n], settings.nonmembers
        elif src.format == "pubmedqa":  # held out: PQA-L's official test split, rendered the same way
            held = list(lin.pubmedqa_documents(src, split="eval"))
            n_src = f"{src.path} (official test ids)"
        else:
            held = list(lin.documents(src, held_out=True))
            n_src = f"{src.path} (held-out validation ids)"
        if members and held:
            return sample(members), sample([d.text for d in held]), f"{src.path} (trained)", n_src
    return None


def _summary(audit: Audit, stats, skipped, changed, unverifiable, notes) -> dict:
    per_suite: dict[str, dict] = {}
    for r in audit.items:
        s = per_suite.setdefault(r["suite"], {"items": 0, "contaminated": 0, "max_ngram_overlap": 0.0,
                                             "max_near_dup_jaccard": 0.0})
        s["items"] += 1
        s["contaminated"] += int(r["contaminated"])
        s["max_ngram_overlap"] = max(s["max_ngram_overlap"], r["ngram_overlap"])
        s["max_near_dup_jaccard"] = max(s["max_near_dup_jaccard"], r["near_dup_jaccard"])
    out = {"suites": per_suite, "contaminated": sum(s["contaminated"] for s in per_suite.values()),
           "items": len(audit.items), "training_documents": stats.documents, "training_bytes": stats.bytes,
           "scan_seconds": round(stats.seconds, 3),
           "mb_per_s": round(stats.bytes / 1e6 / stats.seconds, 2) if stats.seconds else None,
           "skipped_suites": skipped, "changed_since_training": changed, "unverifiable": unverifiable, "notes": notes,
           "split_overlap": {f"{r['suite']}:{r['split_b']}~{r['split_a']}": r["near"] for r in audit.split_overlap}}
    if audit.membership:
        out["membership_auroc"] = {r["method"]: r["auroc"] for r in audit.membership}
    if audit.canaries:
        out["canaries"] = {"n": len(audit.canaries), "reproduced": sum(c["reproduced"] for c in audit.canaries),
                           "max_exposure": max(c["exposure"] for c in audit.canaries),
                           "extrapolated": {c["canary_id"]: c["exposure_extrapolated"] for c in audit.canaries}}
        out["pii_findings"] = {"total": len(audit.pii), "known": sum(f["known"] for f in audit.pii)}
    return out
