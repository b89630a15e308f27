"""medtune's Python API: thin functions over what the ``medtune`` commands do.

Each function takes the command's settings as keyword arguments with the CLI's defaults; ``db``
and ``data_root`` default as on the command line (``MEDTUNE_DB`` / ``./medtune.duckdb`` and
``MEDTUNE_DATA``). Bad input raises ``harness.errors.MedtuneError`` (the CLI's exit 2) before
any model is loaded; nothing is half-written. Results are typed objects, also stored in the DB.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.evaluate import RunResult, RunSettings


def _store(db):
    from harness import settings
    from harness.store import Store

    settings.offline_defaults()
    store = Store(settings.db_path(db))
    store.check()
    return store


def _root(data_root) -> Path:
    from harness import settings

    return settings.data_root(data_root)


def evaluate(variant: str, suites: str | Sequence[str], *, limit: int | None = None, num_fewshot: int | None = None,
             seed: int = 1234, options: Mapping[str, Any] | None = None, engine: str = "native",
             backend: str | None = None, device: str = "auto", dtype: str = "auto", batch_size: int | str = "auto",
             force: bool = False, name: str | None = None, trust_remote_code: bool = False,
             db: str | Path | None = None, data_root: str | Path | None = None,
             progress: Callable | None = None, echo: Callable[[str], None] = lambda m: None) -> list[RunResult]:
    """Score ``variant`` (variant name, built-in, HF directory, adapter directory or hub id) on
    ``suites`` (names, families or ``"all"``), like ``medtune eval``. Identical runs are reused.

    Returns one ``RunResult`` per suite: ``.suite``, ``.run_id``, ``.status`` ("ran" / "cached" /
    "concurrent") and ``.metrics`` (name -> ``Metric`` with value, 95% CI and n).
    ``backend="mock"`` needs no model files (deterministic pseudo-scores, for trying things out).
    """
    from harness.evaluate import evaluate as run

    run_settings = RunSettings(limit=limit, num_fewshot=num_fewshot, seed=seed, options=options, engine=engine,
                               backend=backend, device=device, dtype=dtype, batch_size=batch_size, force=force)
    return run(variant, [suites] if isinstance(suites, str) else list(suites), run_settings, store=_store(db),
               data_root=_root(data_root), name=name, trust_remote_code=trust_remote_code, progress=progress,
               echo=echo)


def tune(recipe: str | Path, overrides: Mapping[str, Any] | None = None, *, force: bool = False,
         restart: bool = False, db: str | Path | None = None, data_root: str | Path | None = None,
         echo: Callable[[str], None] = lambda m: None):
    """Train one variant from a recipe (a YAML file or a shipped recipe name) and register it, like
    ``medtune tune``; ``overrides`` are dotted recipe fields (``{"train.max_steps": 10}``).
    Returns the ``tuning.outcome.Outcome`` (``.name``, ``.path``, ``.lineage``)."""
    from tuning.outcome import TuneContext
    from tuning.recipe import load_recipe
    from tuning.train import tune as train

    from harness import distributed
    from tuning.lineage import claim

    spec = load_recipe(str(recipe), dict(overrides or {}))
    store = _store(db)
    ctx = TuneContext(store=store, data_root=_root(data_root), output=spec.output_path(), echo=echo)
    with claim(spec.name, ctx.output, store.path) if not distributed.launched() else contextlib.nullcontext():
        return train(spec, ctx, force=force, restart=restart)


def audit_leakage(variant: str, *, db: str | Path | None = None, data_root: str | Path | None = None,
                  task: Callable | None = None, **settings: Any):
    """Contamination, split overlap, membership inference and canary exposure of ``variant``, like
    ``medtune audit leakage``; ``settings`` are the fields of ``harness.leakage.audit.Settings``
    (``suites``, ``corpus``, ``model``, ``backend``, ``device``, ...). Stored, and returned as an ``Audit``."""
    from harness.leakage.audit import Settings, run_audit
    from harness.leakage.report import write
    from harness.models.hf_load import check_device
    from harness.models.registry import check_backend

    opts = Settings(**settings)
    check_device(opts.device)
    check_backend(opts.backend)
    store = _store(db)
    audit = run_audit(store, variant, _root(data_root), opts, task=task or (lambda label, total: lambda n: None))
    write(store, audit)
    return audit


def audit_robustness(variant: str, suite: str, *, limit: int | None = None, perturbations: list[str] | None = None,
                     threshold: float = 0.05, options: Mapping[str, Any] | None = None, seed: int = 0,
                     giskard_scan: bool | None = None, backend: str | None = None, device: str = "auto",
                     dtype: str = "auto", batch_size: int | str = "auto", db: str | Path | None = None,
                     data_root: str | Path | None = None, progress: Callable[[int], None] | None = None,
                     echo: Callable[[str], None] = lambda m: None):
    """Paired robustness audit of ``variant`` on one multiple-choice or NER suite under text
    perturbations, like ``medtune audit robustness``. Stored, and returned as a ``RobustnessAudit``.
    ``giskard_scan``: None runs giskard's scan when giskard is installed (``medtune[giskard]``), True
    requires it, False skips it."""
    from harness.errors import MedtuneError
    from harness.evaluate import check_settings, data_hash, partial_path
    from harness.models import DEFAULT_BACKENDS, check_backend, load, resolve
    from harness.robustness import check_supported, run_audit, save_audit
    from harness.robustness._giskard import wanted
    from harness.robustness._perturbations import check_names
    from harness.store.runs import run_key
    from suites import load_suite

    if not 0 < threshold < 1:
        raise MedtuneError(f"--threshold {threshold}: expected a fraction between 0 and 1")
    batch_size = check_settings(limit=limit, batch_size=batch_size, device=device, dtype=dtype)
    check_names(perturbations)
    wanted(giskard_scan)
    check_backend(backend)
    store = _store(db)
    root = _root(data_root)
    loaded = load_suite(suite, options=dict(options or {}), data_root=root)
    check_supported(loaded)  # unsupported suite types fail here, before data or model load
    docs = loaded.docs(root, limit=limit)
    ref = resolve(variant, store=store, backend=backend)
    from harness import distributed
    from harness.eval_parallel import rank_device

    lm = load(ref, device=rank_device(device), dtype=dtype, batch_size=batch_size, backend=backend)
    # scored documents are kept here while the audit runs, so an interrupted audit resumes
    extra = {"backend": backend} if backend is not None and backend != DEFAULT_BACKENDS.get(ref.kind) else {}
    key = run_key(ref.name, ref.location, loaded.name, loaded.version,
                  {**loaded.settings(), "dtype": dtype, "data_sha256": data_hash(loaded, root), **extra}, "robustness")
    partial = partial_path(f"robustness-{key}")
    audit = run_audit(loaded, lm, docs, ref.name, perturbations=perturbations, threshold=threshold,
                      report_dir=store.path.parent / "reports", seed=seed, partial_path=partial,
                      progress=progress, echo=echo, giskard_scan=giskard_scan)
    distributed.on_main(lambda: save_audit(store, audit))  # under a launcher rank 0 alone writes
    partial.unlink(missing_ok=True)
    return audit


def gate(candidate: str, policy: str | Path, baseline: str | None = None, *, record: bool = True,
         junit: str | Path | None = None, markdown: str | Path | None = None, db: str | Path | None = None):
    """Judge ``candidate`` against a gate policy YAML (minimum scores, paired drops vs ``baseline``,
    forgetting, leakage), like ``medtune gate``. Returns a ``GateReport`` (``.passed``, ``.results``);
    a failed rule is a result, not an exception."""
    from harness.gate import load_policy, record as record_gate, run_gate, write_outputs
    from harness.gate.report import check_outputs

    rules = load_policy(policy)
    check_outputs(junit=junit, markdown=markdown)
    store = _store(db)
    report = run_gate(store, rules, candidate, baseline, policy_path=str(policy))
    write_outputs(report, junit, markdown)
    if record:
        record_gate(store, report)
    return report


__all__ = ["RunResult", "RunSettings", "audit_leakage", "audit_robustness", "evaluate", "gate", "tune"]
