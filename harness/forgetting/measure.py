"""``medtune forgetting``: score a variant, its parent and its base on the same suites (cached
runs are reused, never recomputed), compare item by item, store and return the results.

Under a launcher (torchrun, accelerate launch, ``--processes N``) every rank takes part in the scoring
(``evaluate`` splits the documents and gathers them to rank 0, which writes each run); rank 0 alone
compares the runs and writes the forgetting tables, and every rank gets its result (or its error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import MedtuneError
from harness.forgetting.compare import DOMAIN_SUITES, FORGETTING_TASKS, Comparison, Summary, compare_runs, forgetting_report
from harness.store import Store
from harness.store.runs import find_run
from harness.store.variants import get_variant

GENERAL_SUITES = ["arc_easy", "arc_challenge", "hellaswag", "piqa", "winogrande", "boolq", "lambada", "wikitext2"]
DEFAULT_SUITES = GENERAL_SUITES + list(DOMAIN_SUITES)


@dataclass
class ForgettingResult:
    variant: str
    references: dict[str, str]  # role -> variant name
    comparisons: dict[str, list[Comparison]] = field(default_factory=dict)
    summaries: dict[str, Summary] = field(default_factory=dict)


def references_of(store: Store, variant: str) -> dict[str, str]:
    row = get_variant(store, variant)
    if row is None:
        raise MedtuneError(f"variant {variant!r} is not in the DB {store.path}: tune it with `medtune tune` "
                           "(or register it) so its parent is known")
    parent = row["parent"]
    if not parent:
        raise MedtuneError(f"variant {variant!r} has no parent in the DB: forgetting is measured against the model it was tuned from")
    if get_variant(store, parent) is None:
        raise MedtuneError(f"variant {variant!r} names parent {parent!r}, which is not in the DB")
    refs = {"parent": parent}
    if row["base"] and row["base"] not in (parent, variant):
        refs["base"] = row["base"]
    return refs


def measure(store: Store, variant: str, data_root: Path, suites: list[str] | None = None, limit: int | None = None,
            suite_limits: dict[str, int] | None = None, run_missing: bool = True, device: str = "auto",
            dtype: str = "auto", batch_size="auto", seed: int = 1234, progress=None, echo=print,
            backend: str | None = None) -> ForgettingResult:
    from harness import distributed
    from harness.evaluate import RunSettings, expand_suite_names, prepare

    run_settings = RunSettings(limit=limit, suite_limits=suite_limits, seed=seed, device=device, dtype=dtype,
                               batch_size=batch_size, backend=backend)
    error = None
    try:  # check every model and suite before anything runs (on every rank: a failure on one stops all)
        refs = references_of(store, variant)
        names = expand_suite_names(suites or DEFAULT_SUITES)
        evaluations = {model: prepare(model, names, run_settings, store=store, data_root=data_root)
                       for model in [variant, *refs.values()]}
        for model, ev in evaluations.items():
            if ev.missing and not run_missing:
                role = "variant" if model == variant else next(r for r, m in refs.items() if m == model)
                raise MedtuneError(f"suite {ev.missing[0]} has no run for the {role} {model!r} with these settings; "
                                   f"run `medtune eval --variant {model} --suite {ev.missing[0]}` with the same --limit, or drop --no-run")
    except Exception as exc:
        error = exc
    distributed.all_ok(error)
    run_ids: dict[str, dict[str, str]] = {}
    for model, ev in evaluations.items():
        # one call per model: the backend is loaded once; every rank scores its slice, rank 0 writes the run
        run_ids[model] = {r.suite: r.run_id for r in ev.run(progress=progress if distributed.is_main() else None,
                                                            echo=lambda m: None)}
    # rank 0 alone compares and writes the tables; the others get its result, or the same error
    return distributed.on_main(lambda: _compare_and_store(store, variant, refs, names, run_ids))


def _compare_and_store(store: Store, variant: str, refs: dict[str, str], names: list[str],
                       run_ids: dict[str, dict[str, str]]) -> ForgettingResult:
    from suites import load_suite

    result = ForgettingResult(variant, refs)
    for role, ref_name in refs.items():
        comps = []
        for name in names:
            comps += compare_runs(store, load_suite(name), run_ids[variant][name], run_ids[ref_name][name], role)
        result.comparisons[role] = comps
        result.summaries[role] = forgetting_report(comps)
    _store(store, result, run_ids)
    return result


def _store(store: Store, result: ForgettingResult, run_ids) -> None:
    from harness.store import forgetting as db
    from harness.store.records import ForgettingRow, ForgettingSummaryRow
    from suites import load_suite

    rows, summaries = [], []
    for role, ref_name in result.references.items():
        for c in result.comparisons[role]:
            rows.append(ForgettingRow(
                variant=result.variant, reference=ref_name, reference_role=role, suite=c.suite,
                family=load_suite(c.suite).spec.family, metric=c.metric, higher_is_better=c.higher_is_better,
                variant_value=c.variant_value, reference_value=c.reference_value, delta=c.delta, ci_low=c.ci_low,
                ci_high=c.ci_high, p_value=c.p_value, test=c.test, n=c.n, variant_run=run_ids[result.variant][c.suite],
                reference_run=run_ids[ref_name][c.suite]))
        s = result.summaries[role]
        fi_low, fi_high = s.fi_ci or (None, None)
        dg_low, dg_high = s.dg_ci or (None, None)
        summaries.append(ForgettingSummaryRow(
            variant=result.variant, reference=ref_name, reference_role=role, forgetting_index=s.forgetting_index,
            fi_ci_low=fi_low, fi_ci_high=fi_high, fi_tasks=s.fi_tasks, domain_gain=s.domain_gain, dg_ci_low=dg_low,
            dg_ci_high=dg_high, dg_suites=s.dg_suites))
    db.replace(store, result.variant, list(result.references), rows, summaries)


__all__ = ["measure", "references_of", "DEFAULT_SUITES", "GENERAL_SUITES", "FORGETTING_TASKS"]
