"""Profiles per time window, drift against a reference, nearest eval suites, sampled quality.

``analyse(store, variant, Settings(...))`` reads the variant's traffic (short read transactions; the
embedding model runs with no connection open) and returns an ``Analysis``; ``save`` writes it in one
transaction (``monitor_runs``, ``monitor_windows``, ``monitor_drift``, ``monitor_quality`` and new cached
embeddings).

The reference (``Settings.reference``):

- ``suites``: the prompts of the variant's stored eval runs (``samples.record.prompt`` of its latest run of
  each suite) plus the suites named with ``--suite`` (their questions, from the data root). Prompt-side
  features only: the prompt embedding and language (a suite prompt is a rendered template with its
  options, so its length says nothing about a user's). Response-side features (length, first word,
  refusals, PII, the response embedding, quality) have no eval counterpart and use the first window;
- ``window:<time>``: the window holding that time (e.g. ``window:2026-12-01``);
- ``file:<path>``: a traffic file (JSONL/Parquet, the ingest layout or ``--mapping``), e.g. the tuning
  data in chat form, read streaming with a seeded reservoir sample of ``test_sample`` records;
- default: ``suites`` when the variant has stored eval runs with prompts, else the first window.

Tests, per tested window and feature (``stats.py``): ``prompt_chars`` and ``response_chars`` (KS, PSI),
``language`` and ``first_token`` (chi-square, PSI), ``prompt_embedding`` and ``response_embedding`` (MMD).
Numbers are tested on a seeded sample of at most ``test_sample`` records a window, categories on every
record, embeddings on ``embed_sample`` records. The p-values of every test of the analysis are adjusted
together (Holm by default); a feature has drifted in a window when its adjusted p-value is below
``significance`` *and* its effect reaches the threshold (PSI ``max_psi``, MMD ``max_mmd``): with a
hundred thousand records a day, a significant difference can be too small to matter.

The drifted region of a window: the quarter of its embedded prompts where the window has the most mass over
the reference (highest MMD witness: the mean kernel similarity to the window's prompts minus that to the
reference's). Its prompts are the window's examples (most over-represented first), and the eval suites whose
prompt embedding mean is nearest (cosine) to the region's mean are named: the suites to re-score. Suites: those the
variant has stored runs of, and those named with ``--suite``.
"""

from __future__ import annotations

import heapq
import random
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from harness.errors import MedtuneError
from harness.monitor import stats
from harness.monitor.embed import EmbeddingCache, make_embedder
from harness.monitor.mapping import TrafficMapping
from harness.store import Store
from harness.store import monitor as db
from harness.store.records import MonitorDrift, MonitorQuality, MonitorRun, MonitorWindow

GRANULARITIES = ("hour", "day", "week")
FEATURES = ("prompt_chars", "response_chars", "language", "first_token", "prompt_embedding", "response_embedding")
PROMPT_SIDE = ("prompt_chars", "language", "prompt_embedding")
KIND = {"prompt_chars": ("numeric", "ks", "psi"), "response_chars": ("numeric", "ks", "psi"),
        "language": ("categorical", "chi2", "psi"), "first_token": ("categorical", "chi2", "psi"),
        "prompt_embedding": ("embedding", "mmd", "mmd"), "response_embedding": ("embedding", "mmd", "mmd")}
SUITE_SAMPLE = 128  # prompts per suite embedded for the nearest-suite ranking

#: grader hook: records ({prompt, response, feedback, ts}) -> one score each (None: not graded). The
#: default grades by the record's feedback; the rubric judge plugs in here when it exists.
Grader = Callable[[list[dict]], list]


def feedback_grader(records: list[dict]) -> list:
    return [r["feedback"] for r in records]


feedback_grader.name = "feedback"  # type: ignore[attr-defined]


@dataclass
class Settings:
    granularity: str = "day"
    reference: str | None = None          # None: suites if stored eval runs have prompts, else the first window
    embed: object = "minilm"              # minilm | hash | none | an embedder object
    embed_sample: int = 256               # records embedded a window (seeded)
    test_sample: int = 20_000             # records a window for the numeric tests (seeded)
    quality_sample: int = 500             # records with feedback graded a window (seeded)
    seed: int = 0
    significance: float = 0.01
    correction: str = "holm"              # holm | bh
    max_psi: float = 0.2
    max_mmd: float = 0.1
    min_records: int = 100                # smaller windows are profiled, not tested
    suites: list[str] = field(default_factory=list)
    quality_baseline: str | None = None   # SUITE[:METRIC] | reference | None (auto)
    last: int | None = None               # test only the last N windows
    since: datetime | None = None         # test only windows starting at or after this time
    examples: int = 5
    permutations: int = 200
    mapping: TrafficMapping | None = None  # for a file: reference
    data_root: str | None = None

    def __post_init__(self):
        if self.granularity not in GRANULARITIES:
            raise MedtuneError(f"--window {self.granularity}: one of {', '.join(GRANULARITIES)}")
        if self.correction not in ("holm", "bh"):
            raise MedtuneError(f"correction {self.correction!r}: holm or bh")
        for name in ("embed_sample", "test_sample", "quality_sample", "min_records"):
            if getattr(self, name) < 1:
                raise MedtuneError(f"{name.replace('_', '-')} must be at least 1")

    def public(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("mapping", "embed")}
        out["embed"] = self.embed if isinstance(self.embed, str) or self.embed is None else self.embed.name
        out["since"] = str(self.since) if self.since else None
        return out

    def threshold(self, effect_name: str) -> float:
        return self.max_mmd if effect_name == "mmd" else self.max_psi


@dataclass
class Ref:
    """One side (prompts or responses) of the reference."""
    label: str
    window: datetime | None = None
    prompt_chars: np.ndarray | None = None
    response_chars: np.ndarray | None = None
    language: dict | None = None
    first_token: dict | None = None
    refusal: tuple[int, int] | None = None      # (refusals, n)
    feedback: np.ndarray | None = None
    prompts: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    n: int = 0


@dataclass
class Analysis:
    run_id: str
    variant: str
    settings: Settings
    reference: str
    reference_label: str
    windows: list[MonitorWindow]
    reference_profile: MonitorWindow
    drift: list[MonitorDrift]
    quality: list[MonitorQuality]
    tested: list[datetime]
    response_reference: datetime | None = None
    notes: list[str] = field(default_factory=list)
    cache: EmbeddingCache | None = None
    refusal_ref: tuple[int, int] | None = None
    refusals: dict = field(default_factory=dict)   # window -> (refusals, n)

    def window(self, start: datetime) -> MonitorWindow:
        return next(w for w in self.windows if w.window_start == start)

    def drift_of(self, start: datetime) -> list[MonitorDrift]:
        return [d for d in self.drift if d.window_start == start]

    def quality_of(self, start: datetime) -> MonitorQuality | None:
        return next((q for q in self.quality if q.window_start == start), None)


def window_label(start: datetime | None, granularity: str) -> str:
    if start is None:
        return "reference"
    if granularity == "hour":
        return start.strftime("%Y-%m-%d %H:00")
    if granularity == "week":
        return "week of " + start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m-%d")


# -- reading the traffic (SQL in harness/store/monitor.py) --------------------------------------------------
def _profiles(store: Store, variant: str, granularity: str) -> dict[datetime, dict]:
    out = db.window_profiles(store, variant, granularity)
    for p in out.values():
        n = p["n"]
        p["refusal_rate"], p["pii_rate"] = p["refusals"] / n, p["pii_responses"] / n
        p["top_response_share"] = p["top_response"] / n
        p["languages"] = {k: v / n for k, v in sorted(p["language_counts"].items(), key=lambda kv: -kv[1])}
        tok, c = max(p["first_tokens"].items(), key=lambda kv: (kv[1], kv[0]))
        p["top_first_token"], p["top_first_token_share"] = tok, c / n
    return out


def _numeric_sample(store: Store, variant: str, granularity: str, k: int, seed: int) -> dict[datetime, np.ndarray]:
    rows = db.numeric_sample(store, variant, granularity, k, seed)
    return {_py_ts(w): g[["prompt_chars", "response_chars"]].to_numpy(dtype=float)
            for w, g in rows.groupby("w", sort=True)}


def _py_ts(value) -> datetime:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def _text_sample(store: Store, variant: str, granularity: str, k: int, seed: int, windows: list) -> dict:
    """The first ``k`` records of each window in the seeded order: [(prompt, response)]."""
    out: dict[datetime, list] = {}
    for w, prompt, response in db.text_sample(store, variant, granularity, k, seed, windows):
        out.setdefault(w, []).append((prompt, response))
    return out


def _quality_sample(store: Store, variant: str, granularity: str, k: int, seed: int, texts: bool) -> dict:
    out: dict[datetime, list[dict]] = {}
    for row in db.feedback_sample(store, variant, granularity, k, seed, texts):
        rec = {"ts": row[1], "feedback": row[2]}
        if texts:
            rec["prompt"], rec["response"] = row[3], row[4]
        out.setdefault(row[0], []).append(rec)
    return out


# -- references --------------------------------------------------------------------------------------
def _window_ref(start: datetime, profile: dict, numeric: np.ndarray, texts: list, label: str) -> Ref:
    return Ref(label=label, window=start, prompt_chars=numeric[:, 0], response_chars=numeric[:, 1],
               language=profile["language_counts"], first_token=profile["first_tokens"],
               refusal=(profile["refusals"], profile["n"]), prompts=[p for p, _ in texts],
               responses=[r for _, r in texts], n=profile["n"])


def stored_suite_prompts(store: Store, variant: str, seed: int) -> dict[str, list[str]]:
    """Prompts of the variant's latest stored eval run of each suite (a seeded sample of ``SUITE_SAMPLE``)."""
    out: dict[str, list[str]] = {}
    for suite, prompt in db.stored_suite_prompts(store, variant, seed, SUITE_SAMPLE):
        if isinstance(prompt, str) and prompt.strip():
            out.setdefault(suite, []).append(prompt)
    return out


def named_suite_prompts(names: list[str], seed: int, data_root: str | None) -> dict[str, list[str]]:
    """Questions of the suites named (``--suite``), read from the data root (a seeded sample of ``SUITE_SAMPLE``)."""
    from harness import settings
    from suites import load_suite

    out: dict[str, list[str]] = {}
    if not names:
        return out
    root = settings.data_root(data_root)
    for name in names:
        suite = load_suite(name)
        docs = suite.docs(root)
        picked = random.Random(seed).sample(docs, min(SUITE_SAMPLE, len(docs)))
        texts = []
        for doc in picked:
            q = doc.get("question")
            texts.append(q if isinstance(q, str) and q.strip() else suite.prompt(doc))
        out[name] = texts
    return out


def _file_ref(path: str, s: Settings) -> Ref:
    """A traffic file as the reference: category counts over every record, a seeded reservoir sample of
    ``test_sample`` records for the numbers and of ``embed_sample`` for the texts (bounded memory)."""
    from harness.monitor.ingest import iter_traffic

    p = Path(path)
    if not p.is_file():
        raise MedtuneError(f"--reference file:{path}: no such file")
    rng = random.Random(s.seed)
    numbers: list[tuple[float, float, float]] = []   # (key, prompt_chars, response_chars) heap of the smallest keys
    texts: list[tuple[float, str, str]] = []
    lang: dict[str, int] = {}
    first: dict[str, int] = {}
    refusals = n = 0
    feedback = []
    for _, rec in iter_traffic(p, s.mapping or TrafficMapping()):
        n += 1
        lang[rec["language"]] = lang.get(rec["language"], 0) + 1
        first[rec["first_token"]] = first.get(rec["first_token"], 0) + 1
        refusals += bool(rec["refusal"])
        key = rng.random()
        item = (-key, rec["prompt_chars"], rec["response_chars"])
        if len(numbers) < s.test_sample:
            heapq.heappush(numbers, item)
        elif item > numbers[0]:
            heapq.heapreplace(numbers, item)
        titem = (-key, rec["prompt"], rec["response"])
        if len(texts) < s.embed_sample:
            heapq.heappush(texts, titem)
        elif titem[0] > texts[0][0]:
            heapq.heapreplace(texts, titem)
        if rec["feedback"] is not None and len(feedback) < 100_000:
            feedback.append(rec["feedback"])
    if n == 0:
        raise MedtuneError(f"--reference file:{path}: no records")
    arr = np.array([(a, b) for _, a, b in numbers], float)
    return Ref(label=f"file {p.name}", prompt_chars=arr[:, 0], response_chars=arr[:, 1], language=lang,
               first_token=first, refusal=(refusals, n), prompts=[t for _, t, _ in sorted(texts)],
               responses=[r for _, _, r in sorted(texts)], feedback=np.array(feedback, float) if feedback else None,
               n=n)


def _find_window(spec: str, starts: list[datetime], granularity: str) -> datetime:
    from harness.monitor.mapping import parse_timestamp

    try:
        t = parse_timestamp(spec, "--reference window:", "--reference", None)
    except MedtuneError:
        raise MedtuneError(f"--reference window:{spec}: not a time (e.g. window:2026-12-01)") from None
    for w in starts:
        if w <= t < _window_end(w, granularity):
            return w
    raise MedtuneError(f"--reference window:{spec}: no traffic in that {granularity} (windows: "
                       f"{window_label(starts[0], granularity)} .. {window_label(starts[-1], granularity)})")


def _window_end(start: datetime, granularity: str) -> datetime:
    from datetime import timedelta

    return start + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[granularity]


# -- the analysis --------------------------------------------------------------------------------------
def analyse(store: Store, variant: str, settings: Settings | None = None, grader: Grader | None = None,
            progress: Callable[[str], None] | None = None) -> Analysis:
    s = settings or Settings()
    say = progress or (lambda msg: None)
    g = s.granularity
    store.check()
    if not db.has_traffic(store, variant):
        known = db.traffic_variants(store)
        raise MedtuneError(f"no traffic for variant {variant!r} in {store.path}"
                           + (f" (variants with traffic: {', '.join(known)})" if known else "")
                           + f": run `medtune monitor ingest FILE --variant {variant}` first")
    say("profiles")
    prof = _profiles(store, variant, g)
    numeric = _numeric_sample(store, variant, g, s.test_sample, s.seed)
    starts = sorted(prof)
    notes: list[str] = []
    embedder = make_embedder(s.embed)
    cache = EmbeddingCache(embedder) if embedder else None

    # the reference
    ref_spec = s.reference
    suite_texts = stored_suite_prompts(store, variant, s.seed)
    if ref_spec is None:
        ref_spec = "suites" if suite_texts else f"window:{starts[0].isoformat()}"
    suite_texts.update(named_suite_prompts(s.suites, s.seed, s.data_root))
    first_texts: dict = {}
    if ref_spec == "suites":
        if not suite_texts:
            raise MedtuneError(f"--reference suites: variant {variant!r} has no stored eval runs with prompts "
                               "(and no --suite given): use --reference window:TIME or file:PATH")
        from harness.monitor.features import language

        prompts = [p for texts in suite_texts.values() for p in texts]
        langs: dict[str, int] = {}
        for lang in map(language, prompts):
            langs[lang] = langs.get(lang, 0) + 1
        prompt_ref = Ref(label="suites " + ", ".join(sorted(suite_texts)), language=langs, prompts=prompts,
                         n=len(prompts))
        first_texts = _text_sample(store, variant, g, s.embed_sample, s.seed, [starts[0]])
        response_ref = _window_ref(starts[0], prof[starts[0]], numeric[starts[0]], first_texts.get(starts[0], []),
                                   f"window {window_label(starts[0], s.granularity)}")
        notes.append(f"response features (length, first word, refusals, PII, response embedding, quality) are "
                     f"compared with the first window, {window_label(starts[0], s.granularity)}: eval suites "
                     "store no free-text responses")
        reference = "suites"
    elif ref_spec.startswith("window:"):
        w0 = _find_window(ref_spec.split(":", 1)[1], starts, s.granularity)
        first_texts = _text_sample(store, variant, g, s.embed_sample, s.seed, [w0])
        prompt_ref = response_ref = _window_ref(w0, prof[w0], numeric[w0], first_texts.get(w0, []),
                                                f"window {window_label(w0, s.granularity)}")
        reference = f"window:{w0.isoformat()}"
    elif ref_spec.startswith("file:"):
        path = ref_spec.split(":", 1)[1]
        say(f"reading the reference {path}")
        prompt_ref = response_ref = _file_ref(path, s)
        reference = f"file:{Path(path).resolve()}"
    else:
        raise MedtuneError(f"--reference {ref_spec}: suites, window:TIME or file:PATH")

    # which windows are tested
    candidates = [w for w in starts if w != prompt_ref.window]
    if s.since is not None:
        candidates = [w for w in candidates if w >= s.since]
    if s.last:
        candidates = candidates[-s.last:]
    tested = [w for w in candidates if prof[w]["n"] >= s.min_records]
    small = [w for w in candidates if prof[w]["n"] < s.min_records]
    if small:
        notes.append(f"{len(small)} window(s) with fewer than {s.min_records} records profiled but not tested: "
                     + ", ".join(window_label(w, s.granularity) for w in small[:5])
                     + (" ..." if len(small) > 5 else ""))

    # texts of the tested windows (embedding sample and examples)
    k_text = max(s.embed_sample if embedder else 0, s.examples)
    texts = _text_sample(store, variant, g, k_text, s.seed, [w for w in starts if w not in first_texts])
    texts.update(first_texts)

    run_id = uuid.uuid4().hex[:16]
    emb: dict = {}
    suite_means: dict[str, np.ndarray] = {}
    if embedder:
        say(f"embedding samples with {embedder.name}")
        groups: dict = {}
        for side, ref in (("prompt", prompt_ref), ("response", response_ref)):
            items = ref.prompts if side == "prompt" else ref.responses
            if items:
                groups[("ref", side)] = items
        for w in starts:
            pairs = texts.get(w, [])[:s.embed_sample]
            if w in tested or w == prompt_ref.window or w == response_ref.window or len(starts) <= 60:
                groups[(w, "prompt")] = [p for p, _ in pairs]
                groups[(w, "response")] = [r for _, r in pairs]
        for suite, items in suite_texts.items():
            groups[("suite", suite)] = items
        emb = cache.embed_many(store, groups)
        for suite in suite_texts:
            suite_means[suite] = _unit(emb.pop(("suite", suite)).mean(axis=0))

    # drift tests
    say("drift tests")
    drift: list[MonitorDrift] = []
    for w in tested:
        p = prof[w]
        cur = numeric[w]
        for feature in FEATURES:
            ref = prompt_ref if feature in PROMPT_SIDE else response_ref
            if ref.window == w:
                continue  # the window is the reference for this side
            kind, test, effect_name = KIND[feature]
            stat = pval = eff = None
            n_ref = ref.n
            if feature in ("prompt_chars", "response_chars"):
                ref_values = ref.prompt_chars if feature == "prompt_chars" else ref.response_chars
                if ref_values is None:
                    continue
                values = cur[:, 0] if feature == "prompt_chars" else cur[:, 1]
                stat, pval = stats.ks_test(ref_values, values)
                eff = stats.psi_numeric(ref_values, values)
                n_ref, n_cur = len(ref_values), len(values)
            elif feature in ("language", "first_token"):
                ref_counts = ref.language if feature == "language" else ref.first_token
                if not ref_counts:
                    continue
                counts = p["language_counts"] if feature == "language" else p["first_tokens"]
                stat, pval, eff = stats.categorical_test(ref_counts, counts)
                n_ref, n_cur = sum(ref_counts.values()), p["n"]
            else:
                side = feature.split("_")[0]
                x, y = emb.get(("ref", side)), emb.get((w, side))
                if x is None or y is None or len(x) < 5 or len(y) < 5:
                    continue
                stat, pval, eff = stats.mmd_test(x, y, s.permutations, s.seed)
                n_ref, n_cur = len(x), len(y)
            drift.append(MonitorDrift(run_id=run_id, window_start=w, feature=feature, kind=kind, test=test,
                                      statistic=_f(stat), p_value=_f(pval), effect_name=effect_name, effect=_f(eff),
                                      threshold=s.threshold(effect_name), n_window=int(n_cur),
                                      n_reference=int(n_ref)))
    adjusted = stats.adjust([d.p_value if d.p_value is not None else float("nan") for d in drift], s.correction)
    for d, q in zip(drift, adjusted):
        d.p_adjusted = _f(q)
        d.drifted = bool(d.p_adjusted is not None and d.p_adjusted < s.significance and d.effect is not None
                         and d.effect >= d.threshold)

    # profiles (windows and the reference)
    windows = []
    for w in starts:
        p = prof[w]
        win = MonitorWindow(run_id=run_id, role="window", window_start=w, **_profile_fields(p))
        pe, re_ = emb.get((w, "prompt")), emb.get((w, "response"))
        if pe is not None and len(pe):
            win.embedded = len(pe)
            win.prompt_embedding = _round(_unit(pe.mean(axis=0)))
            win.response_embedding = _round(_unit(re_.mean(axis=0))) if re_ is not None and len(re_) else None
            win.embedding_stats = _embedding_stats(pe, re_, emb.get(("ref", "prompt")), emb.get(("ref", "response")),
                                                   embedder.name)
        prompts = [prompt for prompt, _ in texts.get(w, [])]
        ref_pe = emb.get(("ref", "prompt"))
        region = _novel(pe, ref_pe) if pe is not None and len(pe) and w != prompt_ref.window else None
        if region is not None:
            # the drifted region: the quarter of the window's sampled prompts most over-represented against the
            # reference; its examples come first, and the suites nearest to it are the ones to re-score
            win.examples = [_clip(t) for t in dict.fromkeys(prompts[i] for i in region)][:s.examples]
            if suite_means:
                centre = _unit(pe[region].mean(axis=0))
                ranked = sorted(((float(centre @ m), name) for name, m in suite_means.items()), reverse=True)
                win.nearest_suites = [{"suite": name, "cosine": round(c, 4)} for c, name in ranked[:3]]
        else:
            win.examples = [_clip(t) for t in dict.fromkeys(prompts)][:s.examples]
        windows.append(win)
    ref_profile = _reference_profile(run_id, prompt_ref, response_ref, prof, emb)

    # sampled quality
    say("sampled quality")
    quality = _quality(store, variant, s, tested, response_ref, grader, run_id, notes)
    return Analysis(run_id=run_id, variant=variant, settings=s, reference=reference,
                    reference_label=prompt_ref.label if prompt_ref is response_ref
                    else f"{prompt_ref.label} (prompts); {response_ref.label} (responses)",
                    windows=windows, reference_profile=ref_profile, drift=drift, quality=quality, tested=tested,
                    response_reference=response_ref.window, notes=notes, cache=cache,
                    refusal_ref=response_ref.refusal,
                    refusals={w: (prof[w]["refusals"], prof[w]["n"]) for w in starts})


def _f(x) -> float | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _round(v: np.ndarray) -> list[float]:
    return [round(float(x), 5) for x in v]


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _profile_fields(p: dict) -> dict:
    keys = ("n", "prompt_chars_mean", "prompt_chars_p50", "prompt_chars_p95", "response_chars_mean",
            "response_chars_p50", "response_chars_p95", "languages", "refusal_rate", "pii_rate", "pii_count",
            "pii_kinds", "top_response_share", "top_first_token", "top_first_token_share", "feedback_n")
    out = {k: p.get(k) for k in keys}
    out["languages"] = {k: round(v, 5) for k, v in p["languages"].items()}
    return out


def _novel(x: np.ndarray, ref: np.ndarray | None) -> list[int] | None:
    """Indices of the quarter of ``x`` (at least one) where the window has most mass over the reference (the
    MMD witness function, highest first)."""
    if ref is None or len(ref) < 2 or len(x) < 2:
        return None
    order = np.argsort(-stats.witness(ref, x), kind="stable")
    return [int(i) for i in order[:max(1, len(x) // 4)]]


def _embedding_stats(pe, re_, ref_p, ref_r, encoder: str) -> dict:
    """Spread (mean cosine of the sample to its own centroid) and the centroid's cosine to the reference's."""
    out: dict = {"encoder": encoder}
    for side, x, ref in (("prompt", pe, ref_p), ("response", re_, ref_r)):
        if x is None or not len(x):
            continue
        centre = _unit(x.mean(axis=0))
        out[f"{side}_spread"] = round(float(1 - np.mean(x @ centre)), 5)
        out[f"{side}_centroid_norm"] = round(float(np.linalg.norm(x.mean(axis=0))), 5)
        if ref is not None and len(ref):
            out[f"{side}_cosine_to_reference"] = round(float(centre @ _unit(ref.mean(axis=0))), 5)
    return out


def _reference_profile(run_id: str, prompt_ref: Ref, response_ref: Ref, prof: dict, emb: dict) -> MonitorWindow:
    if prompt_ref.window is not None and prompt_ref is response_ref:
        row = MonitorWindow(run_id=run_id, role="reference", window_start=prompt_ref.window,
                            **_profile_fields(prof[prompt_ref.window]))
    else:
        n = prompt_ref.n
        row = MonitorWindow(run_id=run_id, role="reference", window_start=None, n=n)
        if prompt_ref.prompt_chars is not None and len(prompt_ref.prompt_chars):
            row.prompt_chars_mean = float(np.mean(prompt_ref.prompt_chars))
            row.prompt_chars_p50, row.prompt_chars_p95 = (float(q) for q in np.quantile(prompt_ref.prompt_chars,
                                                                                         [0.5, 0.95]))
        if response_ref.response_chars is not None and len(response_ref.response_chars):
            row.response_chars_mean = float(np.mean(response_ref.response_chars))
            row.response_chars_p50, row.response_chars_p95 = (float(q) for q in np.quantile(
                response_ref.response_chars, [0.5, 0.95]))
        if prompt_ref.language:
            total = sum(prompt_ref.language.values())
            row.languages = {k: round(v / total, 5) for k, v in sorted(prompt_ref.language.items(),
                                                                          key=lambda kv: -kv[1])}
        if response_ref.refusal:
            row.refusal_rate = response_ref.refusal[0] / max(response_ref.refusal[1], 1)
    pe, re_ = emb.get(("ref", "prompt")), emb.get(("ref", "response"))
    if pe is not None and len(pe):
        row.embedded = len(pe)
        row.prompt_embedding = _round(_unit(pe.mean(axis=0)))
    if re_ is not None and len(re_):
        row.response_embedding = _round(_unit(re_.mean(axis=0)))
    row.examples = [_clip(p) for p in prompt_ref.prompts[:5]]
    return row


def _grade(grader: Grader, records: list[dict]) -> np.ndarray:
    scores = grader(records)
    if len(scores) != len(records):
        raise MedtuneError(f"the grader returned {len(scores)} scores for {len(records)} records")
    return np.array([float(x) for x in scores if x is not None and not (isinstance(x, float) and np.isnan(x))],
                    float)


def _var(values: np.ndarray) -> float:
    """Variance of graded scores (0/1: p(1-p), with a floor so that an all-pass sample has some uncertainty)."""
    if len(values) < 2:
        return 0.25
    if np.isin(values, (0.0, 1.0)).all():
        n, p = len(values), float(values.mean())
        p = min(max(p, 0.5 / n), 1 - 0.5 / n)
        return p * (1 - p)
    return float(values.var(ddof=1))


def _value_ci(values: np.ndarray, seed: int) -> tuple[float, float, float]:
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if np.isin(values, (0.0, 1.0)).all():
        lo, hi = stats.wilson(float(values.sum()), len(values))
        return mean, lo, hi
    from harness.stats import bootstrap_ci

    return bootstrap_ci(values, seed=seed)


def quality_baseline(store: Store, variant: str, spec: str) -> tuple[float, str]:
    """The variant's stored pre-deployment score ``SUITE[:METRIC]`` (latest run)."""
    from harness.store.runs import latest_metric

    suite, _, metric = spec.partition(":")
    metric = metric or "acc"
    row = latest_metric(store, variant, suite, metric)
    if row is None or row["value"] is None or row["value"] != row["value"]:
        raise MedtuneError(f"quality baseline {spec}: variant {variant!r} has no stored {metric} on suite {suite} "
                           f"(run `medtune eval --variant {variant} --suite {suite}` before deployment)")
    return float(row["value"]), f"pre-deployment {suite} {metric} (run {row['run_id']})"


def _quality(store: Store, variant: str, s: Settings, tested: list[datetime], response_ref: Ref,
             grader: Grader | None, run_id: str, notes: list[str]) -> list[MonitorQuality]:
    g = grader or feedback_grader
    name = getattr(g, "name", getattr(g, "__name__", "grader"))
    sample = _quality_sample(store, variant, s.granularity, s.quality_sample, s.seed, texts=grader is not None)
    ref_value, ref_source, ref_values = None, None, None
    if s.quality_baseline and s.quality_baseline != "reference":
        ref_value, ref_source = quality_baseline(store, variant, s.quality_baseline)
    elif response_ref.window is not None and sample.get(response_ref.window):
        ref_values = _grade(g, sample[response_ref.window])
        ref_source = f"reference window {window_label(response_ref.window, s.granularity)} (n={len(ref_values)})"
    elif response_ref.feedback is not None and len(response_ref.feedback) and grader is None:
        ref_values, ref_source = response_ref.feedback, f"{response_ref.label} feedback"
    if ref_values is not None:
        ref_value = float(ref_values.mean()) if len(ref_values) else None
        ref_values = ref_values if len(ref_values) else None
    out = []
    for w in tested:
        records = sample.get(w, [])
        if not records:
            continue
        values = _grade(g, records)
        if not len(values):
            continue
        value, lo, hi = _value_ci(values, s.seed)
        q = MonitorQuality(run_id=run_id, window_start=w, grader=name, n=len(values), value=value, ci_low=lo,
                           ci_high=hi, reference_value=ref_value, reference_source=ref_source)
        if ref_value is not None:
            q.delta = value - ref_value
            if ref_values is not None:  # two samples: the reference's noise counts too (normal approximation)
                q.reference_n = len(ref_values)
                se = float(np.sqrt(_var(values) / len(values) + _var(ref_values) / len(ref_values)))
                q.delta_ci_low, q.delta_ci_high = q.delta - 1.96 * se, q.delta + 1.96 * se
            else:  # a stored score: the window's CI alone
                q.delta_ci_low, q.delta_ci_high = lo - ref_value, hi - ref_value
        out.append(q)
    if not out:
        notes.append("no graded records (no feedback in the traffic, and no grader): quality not measured")
    return out


# -- storing -----------------------------------------------------------------------------------------
def save(store: Store, analysis: Analysis, policy: dict | None = None, alerts: list | None = None,
         passed: bool | None = None) -> None:
    """Every row of the analysis (and of a check), and the embeddings it computed, in one transaction."""
    from harness.store.runs import code_version

    run = MonitorRun(run_id=analysis.run_id, variant=analysis.variant, granularity=analysis.settings.granularity,
                     reference=analysis.reference, settings={**analysis.settings.public(),
                                                             "reference_label": analysis.reference_label,
                                                             "notes": analysis.notes},
                     policy=policy, passed=passed,
                     n_failed=None if alerts is None else sum(not a.passed for a in alerts),
                     code_version=code_version())
    db.save_analysis(store, run, analysis.windows + [analysis.reference_profile], analysis.drift, analysis.quality,
                     alerts or [], analysis.cache.rows() if analysis.cache is not None else [])
