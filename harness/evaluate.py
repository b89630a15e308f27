"""Score one variant on several suites, reusing cached runs, resuming interrupted ones.

``evaluate(variant, suites, RunSettings(...), store=, data_root=)`` is the one entry point: the
CLI, the demo, forgetting, the gate and ``medtune.evaluate`` all go through it (``prepare`` +
``Evaluation.run`` for callers that check several variants before running any).

Everything that can be wrong with the input (settings, suite names, options, data files, the
model name, the results DB) is checked before a model is loaded, and nothing reaches the DB
until a run is complete.

The cache key of a run holds the suite version, the settings and a content hash of every data
file the suite reads, so an edited data file is scored again. Identical evals running at once
compute the run once: each suite's run is computed under a per-key file lock, and the writer
checks the key again inside its DB transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from harness.errors import MedtuneError
from harness.results import Metric
from harness.settings import cache_dir
from harness.store import Store
from harness.store.runs import find_run, run_key, write_run_once

ENGINES = ("native", "lm-eval")


MAX_SEED = 2**32 - 1  # numpy's generators take seeds 0..2**32-1


def check_seed(seed, flag: str = "--seed") -> int:
    """A seed every generator medtune seeds accepts (random, numpy, torch): an integer 0..2**32-1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise MedtuneError(f"{flag} {seed}: expected an integer from 0 to {MAX_SEED}")
    return seed


def check_settings(*, limit=None, num_fewshot=None, batch_size="auto", device="auto", dtype="auto",
                   engine="native", seed=0) -> int | str:
    """Validate evaluation settings (CLI and Python API alike); returns the batch size (int or "auto")."""
    from harness.models.hf_load import check_device, check_dtype

    check_seed(seed)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise MedtuneError(f"--limit {limit}: must be an integer >= 1 (leave it out to score every document)")
    if num_fewshot is not None and (isinstance(num_fewshot, bool) or not isinstance(num_fewshot, int) or num_fewshot < 0):
        raise MedtuneError(f"--num-fewshot {num_fewshot}: must be an integer >= 0")
    if engine not in ENGINES:
        raise MedtuneError(f"--engine {engine}: expected native or lm-eval")
    if batch_size != "auto":
        text = str(batch_size).strip()
        if isinstance(batch_size, bool) or not text.isdigit() or int(text) < 1:
            raise MedtuneError(f"--batch-size {batch_size}: expected a positive integer or auto")
        batch_size = int(text)
    check_dtype(dtype)
    check_device(device)
    return batch_size


@dataclass(frozen=True)
class RunSettings:
    """How to score (not what, nor where): validated on construction, for the CLI and the Python API alike.

    ``suite_limits`` overrides ``limit`` per suite name. ``backend`` names a registered backend
    (``None``: chosen from the model kind). ``batch_size`` is normalised to an int or ``"auto"``.
    """

    limit: int | None = None
    num_fewshot: int | None = None
    seed: int = 1234
    options: Mapping[str, Any] | None = None
    engine: str = "native"
    backend: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | str = "auto"
    force: bool = False
    suite_limits: Mapping[str, int] | None = None
    quantize: str | None = None  # "4bit" | "8bit": bitsandbytes weights (--load-in-4bit / --load-in-8bit)
    device_map: str | None = None  # "auto": layers spread over the GPUs (--device-map auto)
    chat_template: bool = False  # prompts through the model's chat template (lm-eval's --apply_chat_template)
    system_prompt: str | None = None  # a system message (with chat_template) for every selected suite

    def __post_init__(self):
        from harness.models.registry import check_backend

        batch = check_settings(limit=self.limit, num_fewshot=self.num_fewshot, batch_size=self.batch_size,
                               device=self.device, dtype=self.dtype, engine=self.engine, seed=self.seed)
        object.__setattr__(self, "batch_size", batch)
        for name, value in (self.suite_limits or {}).items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise MedtuneError(f"--suite-limit {name}={value}: expected an integer >= 1")
            check_settings(limit=value)
        check_backend(self.backend)
        if self.quantize not in (None, "4bit", "8bit"):
            raise MedtuneError(f"--load-in-{self.quantize}: expected 4bit or 8bit")
        if self.device_map not in (None, "auto"):
            raise MedtuneError(f"--device-map {self.device_map}: expected auto")
        if not isinstance(self.chat_template, bool):
            raise MedtuneError(f"--chat-template {self.chat_template!r}: expected true or false")
        if self.system_prompt is not None and (not isinstance(self.system_prompt, str) or not self.system_prompt.strip()):
            raise MedtuneError(f"--system-prompt {self.system_prompt!r}: expected a non-empty text")

    def load_options(self) -> dict:
        """Backend keywords for big models, only those set (other backends never see them)."""
        return {k: v for k, v in (("quantize", self.quantize), ("device_map", self.device_map)) if v is not None}

    def chat_options(self) -> dict:
        """The chat options (suites._chat) these settings set on every suite: only those switched on, so
        runs without them keep their run keys."""
        return {**({"chat_template": True} if self.chat_template else {}),
                **({"system_prompt": self.system_prompt} if self.system_prompt else {})}

    def limit_for(self, suite: str) -> int | None:
        return (self.suite_limits or {}).get(suite, self.limit)


@dataclass
class Planned:
    suite: Any
    docs: list[dict]
    key: str
    settings: dict
    cached: dict | None


@dataclass
class RunResult:
    """One variant x suite: the run that holds its scores, and whether it was computed by this call."""

    variant: str
    suite: str
    run_id: str
    status: str  # "ran" | "cached" (an earlier identical run) | "concurrent" (an identical run that finished meanwhile)
    metrics: dict[str, Metric]


@dataclass
class Evaluation:
    """A checked plan: the model resolved, every suite loaded, its data read and cached runs found.
    Nothing has been loaded onto a device or written yet; ``run()`` does that."""

    ref: Any  # harness.models.ModelRef
    settings: RunSettings
    store: Store
    data_root: Path
    planned: list[Planned]

    @property
    def warnings(self) -> list[str]:
        """Prompt problems worth a line before scoring (``Suite.prompt_warnings``)."""
        return [w for p in self.planned for w in getattr(p.suite, "prompt_warnings", lambda docs: [])(p.docs)]

    @property
    def missing(self) -> list[str]:
        """Suites without a cached run (what ``run()`` computes)."""
        return [p.suite.name for p in self.planned if p.cached is None]

    def run(self, progress=None, echo=print) -> list[RunResult]:
        """Compute the missing runs (the backend is loaded once, on the first one); one result per suite."""
        done = {p.suite.name: rid for rid, p in _execute(self, progress, echo)}
        out = []
        for p in self.planned:
            if p.suite.name not in done:
                status, run_id = "cached", p.cached["run_id"]
            elif done[p.suite.name]:
                status, run_id = "ran", done[p.suite.name]
            else:
                status, run_id = "concurrent", find_run(self.store, p.key)["run_id"]
            out.append(RunResult(self.ref.name, p.suite.name, run_id, status, _run_metrics(self.store, run_id, p.suite)))
        return out


def evaluate(variant: str, suites: list[str] | str, settings: RunSettings | None = None, *, store: Store,
             data_root: Path, name: str | None = None, trust_remote_code: bool = False, progress=None,
             echo=print) -> list[RunResult]:
    """THE evaluation entry point (CLI, demo, forgetting, gate and the Python API): score ``variant``
    on ``suites`` (names, families or ``all``), reusing identical cached runs, resuming interrupted
    ones; returns one ``RunResult`` per suite. ``progress(label, total)`` returns an ``advance(n)``."""
    ev = prepare(variant, suites, settings, store=store, data_root=data_root, name=name,
                 trust_remote_code=trust_remote_code)
    return ev.run(progress=progress, echo=echo)


def prepare(variant: str, suites: list[str] | str, settings: RunSettings | None = None, *, store: Store,
            data_root: Path, name: str | None = None, trust_remote_code: bool = False) -> Evaluation:
    """Check everything ``evaluate`` needs before any model is loaded (settings, DB, model name,
    suites, options, data); callers that must check several variants first (forgetting) prepare
    them all, then ``run()`` each."""
    from harness.models import resolve

    settings = settings or RunSettings()
    if not isinstance(variant, str) or not variant.strip():
        raise MedtuneError(f"--variant {variant!r}: expected a variant name, built-in model, HF directory or hub id")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise MedtuneError(f"--name {name!r}: expected a non-empty name to record the results under")
    store.check()  # a foreign DB file is refused before any work
    ref = resolve(variant, store=store, trust_remote_code=trust_remote_code, name=name, backend=settings.backend)
    if settings.engine == "lm-eval":
        from harness.models.registry import BACKENDS, backend_name

        chosen = backend_name(ref, settings.backend)
        if not hasattr(BACKENDS.get(chosen), "lm_eval_model"):
            raise MedtuneError(f"--engine lm-eval: backend {chosen} does not provide lm_eval_model(); use --engine native")
    planned = plan(ref, [suites] if isinstance(suites, str) else list(suites), settings, store, Path(data_root))
    return Evaluation(ref, settings, store, Path(data_root), planned)


def expand_suite_names(names: list[str]) -> list[str]:
    """Suite names, a family name (e.g. ``medical_qa``), ``all``, suite files or folders, ``lmeval:TASK``."""
    from suites import resolve_suite_names

    return resolve_suite_names(names)


def plan(ref, suite_names: list[str], rs: RunSettings, store: Store, data_root: Path) -> list[Planned]:
    from harness.models.registry import DEFAULT_BACKENDS
    from suites import load_suite
    from suites._chat import CHAT_OPTIONS

    names = expand_suite_names(suite_names)
    options = {**dict(rs.options or {}), **rs.chat_options()}
    suites = []
    for name in names:
        probe = load_suite(name)
        suites.append(load_suite(name, {k: v for k, v in options.items() if k in probe.spec.options or k in CHAT_OPTIONS},
                                 num_fewshot=rs.num_fewshot, seed=rs.seed, data_root=data_root))
    unused = set(options) - {k for s in suites for k in s.spec.options} - set(CHAT_OPTIONS)
    if unused:
        raise MedtuneError(f"--option {sorted(unused)[0]}: no selected suite has that option")
    from suites._chat import wants_chat

    for suite in suites:
        if suite.options.get("system_prompt") and not getattr(suite, "lmeval_task", False) and not wants_chat(suite):
            raise MedtuneError(f"suite {suite.name}: a system prompt is applied only through the model's chat "
                               "template: add --chat-template (or -o chat_template=true), or leave out --system-prompt")
    planned = []
    for suite in suites:
        limit = rs.limit_for(suite.name)
        docs = suite.docs(data_root, limit)
        short = suite.fewshot_shortfall(docs) if not getattr(suite, "lmeval_task", False) else None
        if short is not None:
            available, doc = short
            group = f" (group {doc['group']!r})" if doc.get("group") is not None else ""
            asked = "--num-fewshot" if rs.num_fewshot is not None else "its num_fewshot:"
            raise MedtuneError(f"suite {suite.name}: {asked} {suite.num_fewshot}, but its few-shot pool holds only "
                               f"{available} example(s) for document {doc['id']!r}{group}: ask for at most {available}")
        settings = {**suite.settings(), "limit": limit, "n_docs": len(docs), "dtype": rs.dtype,
                    "data_sha256": data_hash(suite, data_root),
                    **({"quantize": rs.quantize} if rs.quantize else {})}  # 4/8-bit weights score differently
        if rs.backend is not None and rs.backend != DEFAULT_BACKENDS.get(ref.kind):
            settings["backend"] = rs.backend  # a non-default backend's runs are never another's cache
        key = run_key(ref.name, ref.location, suite.name, suite.version, settings, rs.engine)
        cached = None if rs.force else find_run(store, key)
        planned.append(Planned(suite, docs, key, settings, cached))
    return planned


def partial_path(key: str) -> Path:
    return cache_dir() / "partial" / f"{key}.jsonl"


@contextlib.contextmanager
def key_lock(key: str) -> Iterator[bool]:
    """Exclusive lock on one run key across processes; yields whether another process held it first."""
    path = cache_dir() / "partial" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            fcntl.flock(f, fcntl.LOCK_EX)
            waited = True
        try:
            yield waited
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_planned(ev: Evaluation, progress=None, echo=print) -> list[str]:
    """Run the non-cached suites of ``ev``; returns the run ids written."""
    return [run_id for run_id, _ in _execute(ev, progress, echo) if run_id]


def _execute(ev: Evaluation, progress, echo) -> list[tuple[str | None, Planned]]:
    """Each non-cached suite with the run id written (None: an identical concurrent run wrote it first)."""
    from harness.models import load

    rs, ref, store = ev.settings, ev.ref, ev.store
    todo = [p for p in ev.planned if p.cached is None]
    for p in ev.planned:
        if p.cached:
            echo(f"cached: {ref.name} on {p.suite.name} (run {p.cached['run_id']}); --force to re-run")
    if not todo:
        return []
    # with --force, runs older than this call are not reused; without it, any run with the key is
    since = datetime.now(timezone.utc).replace(tzinfo=None) if rs.force else datetime(1970, 1, 1)
    from harness import distributed

    if distributed.launched() and (rs.engine != "native" or any(getattr(p.suite, "lmeval_task", False) for p in todo)):
        raise MedtuneError("several processes (--processes, torchrun, accelerate launch) split documents for the "
                           "native engine only; run --engine lm-eval / lmeval: suites in one process")
    lm = None
    out = []
    for p in todo:
        # under a launcher rank 0 alone takes the key lock and reads the store; the others follow its answer
        with key_lock(p.key) if distributed.is_main() else contextlib.nullcontext():
            done = distributed.on_main(lambda: find_run(store, p.key, since=since))  # an identical eval may have finished meanwhile
            if done:
                echo(f"cached (written by a concurrent run): {ref.name} on {p.suite.name} (run {done['run_id']})")
                out.append((None, p))
                continue
            if lm is None:
                from harness.eval_parallel import rank_device

                error = None
                try:
                    lm = load(ref, device=rank_device(rs.device), dtype=rs.dtype, batch_size=rs.batch_size,
                              backend=rs.backend, **rs.load_options())
                except Exception as exc:  # noqa: BLE001 - under a launcher: a load failing on one rank stops all
                    error = exc
                distributed.all_ok(error)
            out.append((_run_one(ev, p, lm, since, progress, echo), p))
    return out


def _run_one(ev: Evaluation, p: Planned, lm, since: datetime, progress, echo) -> str | None:
    from harness import distributed

    rs, ref = ev.settings, ev.ref
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    protocol, error = None, None
    try:
        if not getattr(p.suite, "lmeval_task", False):
            from suites._chat import bind
            from suites._protocol import recorded

            bind(p.suite, lm)  # the model's chat template, when the suite's protocol asks for it
            protocol = recorded(p.suite, p.docs)
        total = sum(len(p.suite.type.requests(i, d)) for i, d in enumerate(p.docs))
    except Exception as exc:  # noqa: BLE001 - under a launcher every rank stops with the same line
        error = exc
    distributed.all_ok(error)
    advance = progress(f"{ref.name} · {p.suite.name}", total) if progress else None
    if getattr(p.suite, "lmeval_task", False):  # --suite lmeval:TASK: lm-eval scores its own task
        from harness.lmeval_tasks import run_task

        result = run_task(p.suite, lm, p.docs, seed=rs.seed, progress=advance)
    elif rs.engine == "lm-eval":
        from harness.lmeval_bridge import run_with_lmeval

        result = run_with_lmeval(p.suite, lm, p.docs, seed=rs.seed, progress=advance)
    else:
        from harness.engine import run_suite

        if hasattr(p.suite.type, "bind_store"):  # a rubric suite's judge caches its verdicts in the DB
            p.suite.type.bind_store(ev.store)
        if distributed.launched():  # each rank scores its slice; rank 0 gets every sample (harness.eval_parallel)
            from harness.eval_parallel import run_sharded

            result = run_sharded(p.suite, lm, p.docs, partial_path(p.key), progress=advance, seed=rs.seed)
        else:
            result = run_suite(p.suite, lm, p.docs, partial_path=partial_path(p.key), progress=advance, seed=rs.seed)
        if result.resumed:
            echo(f"resumed {p.suite.name}: {result.resumed} samples recovered from an interrupted run")
    settings = {**p.settings, "batch_size": lm.batch_size, "device": lm.device,
                **({"protocol": protocol} if protocol else {})}  # suites._protocol: scoring kind, chat, shots...
    if distributed.launched():
        settings["processes"] = distributed.world_size()
    # rank 0 alone writes (one transaction); every rank learns the run id
    run_id, written = distributed.on_main(lambda: write_run_once(
        ev.store, key=p.key, variant=ref.name, model_info=lm.info, suite=p.suite,
        engine="lm-eval" if getattr(p.suite, "lmeval_task", False) else rs.engine,  # an lmeval: suite is lm-eval's
        settings=settings, samples=result.samples, metrics=result.metrics, started_at=started,
        duration_s=result.duration_s, reuse_since=since))
    if distributed.launched():
        from harness.eval_parallel import drop_partial

        drop_partial(partial_path(p.key))
    partial_path(p.key).unlink(missing_ok=True)
    if not written:
        echo(f"cached (written by a concurrent run): {ref.name} on {p.suite.name} (run {run_id})")
        return None
    return run_id


def _run_metrics(store: Store, run_id: str, suite) -> dict[str, Metric]:
    """The metrics a run recorded (name -> Metric); the direction from the row, else the suite type's declaration."""
    from harness.store.runs import metric_rows
    from suites._types.declarations import higher_is_better

    return {r.metric: Metric(r.metric, r.value, r.ci_low, r.ci_high, r.n,
                             higher_is_better(r.metric, suite.spec.type, r.higher_is_better))
            for r in metric_rows(store, run_id)}


def suite_data_files(suite, data_root: Path) -> list[Path]:
    """Every file the suite reads for the documents it scores (a folder: all its files, sorted)."""
    from suites._data import expand_data_paths, is_glob

    data = suite.spec.data
    paths = getattr(data, "paths", None) or [data.path]  # data.path: a file, folder, glob or a list of them
    relative = [*paths, *data.extra.values()]
    if suite.num_fewshot and data.fewshot_path:
        relative.append(data.fewshot_path)
    files = []
    for rel in relative:
        if is_glob(rel):
            try:
                files.extend(expand_data_paths(Path(data_root), [rel]))
            except MedtuneError:
                pass  # no match: the suite's reader says so
            continue
        path = Path(data_root) / rel
        shipped = getattr(suite.type, "shipped_data", None)  # a type's sample data shipped beside its suites
        if not path.exists() and shipped is not None and (Path(shipped) / rel).is_file():
            path = Path(shipped) / rel
        if path.is_dir():
            files.extend(sorted(f for f in path.rglob("*") if f.is_file()))
        elif path.is_file():
            files.append(path)
    return files


def data_hash(suite, data_root: Path) -> str:
    """Content hash of the suite's data files (names relative to the data root, and contents), and of
    the hub split it reads instead where its local file is missing (``data.hub``)."""
    from suites._hub import fingerprint

    h = hashlib.sha256()
    for path in suite_data_files(suite, data_root):
        try:
            name = path.relative_to(data_root).as_posix()
        except ValueError:
            name = path.as_posix()
        h.update(f"{name}\0{cached_sha256(path)}\n".encode())
    hub = fingerprint(suite.spec, data_root)
    if hub:
        h.update(f"hub\0{hub}\n".encode())
    return h.hexdigest()[:16]


_HASHES: dict[tuple, str] = {}
RACY_S = 2.0  # a file modified this recently may change again within the same mtime: not cached on disk


def cached_sha256(path: Path) -> str:
    """``file_sha256``, cached per (path, size, mtime, ctime, inode) in memory and under ``<cache>/hashes``.

    The ctime and inode are in the key because an edit that keeps the size and puts the old mtime back
    (``touch -d``, ``cp -p``, a tool that preserves times) still changes them: no edit reuses a stale hash."""
    path = Path(path).resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if memo in _HASHES:
        return _HASHES[memo]
    entry = cache_dir() / "hashes" / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"
    try:
        saved = json.loads(entry.read_text())
        if [saved["path"], saved["size"], saved["mtime_ns"], saved["ctime_ns"], saved["ino"]] == list(memo):
            _HASHES[memo] = saved["sha256"]
            return saved["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = file_sha256(path)
    if time.time() - st.st_mtime_ns / 1e9 > RACY_S:
        _HASHES[memo] = digest
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"path": memo[0], "size": memo[1], "mtime_ns": memo[2], "ctime_ns": memo[3],
                                   "ino": memo[4], "sha256": digest}))
        os.replace(tmp, entry)
    return digest


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
