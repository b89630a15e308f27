"""``medtune demo``: the README's main job on the embedded defaults.

Builds, from ``smollm2-135m``, an intermediate-pretrained variant and a LoRA variant on top of it
(small budgets), scores all three on the medical QA suites, and prints the results table. Every
step is resumable: trained variants and cached runs are reused when the command is run again.
"""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.common import DATA_OPT, DB_OPT, console, progress_bar

DEMO_RECIPES = ["demo_dapt_smollm2", "demo_lora_smollm2"]
DEMO_SUITES = ["medqa_usmle", "medmcqa", "pubmedqa", "mmlu_medical"]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def demo_cmd(
    limit: int = typer.Option(50, "--limit", "-n", help="Questions scored per suite"),
    skip_tuning: bool = typer.Option(False, "--skip-tuning", help="Only score smollm2-135m"),
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
):
    """Tune two variants of smollm2-135m and score all three on the medical QA suites."""
    import time

    from harness import settings
    from harness.cli.eval_cmd import print_results
    from harness.evaluate import RunSettings, evaluate
    from harness.store import Store
    from harness.store.runs import results_table
    from harness.store.variants import get_variant

    t0 = time.perf_counter()
    run_settings = RunSettings(limit=limit)  # checked before any tuning: --limit 0 must not cost two trainings
    store, root = Store(settings.db_path(db)), settings.data_root(data_root)
    variants = ["smollm2-135m"]
    if not skip_tuning:
        from tuning.recipe import load_recipe
        from tuning.train import TuneContext, tune

        for name in DEMO_RECIPES:
            spec = load_recipe(name, {})
            if get_variant(store, spec.name) is not None:
                console.print(f"[dim]{spec.name} is already built; reusing it[/]")
            else:
                console.print(f"[bold]tuning {spec.name}[/]: {spec.method} on {spec.base}")
                out = tune(spec, TuneContext(store=store, data_root=root, output=spec.output_path(),
                                             echo=lambda m: console.print(f"[dim]{m}[/]")))
                lin = out.lineage
                console.print(f"registered [bold]{out.name}[/]: {lin['tokens_seen']:,} tokens in {lin['wall_s']:.0f}s")
            variants.append(spec.name)
    with progress_bar() as bar:
        def progress(label, total):
            task = bar.add_task(label, total=total, rate="")
            return lambda n: bar.advance(task, n)

        for variant in variants:
            evaluate(variant, DEMO_SUITES, run_settings, store=store, data_root=root, progress=progress,
                     echo=lambda m: console.print(f"[dim]{m}[/]"))
    print_results(results_table(store, variants=variants, suites=DEMO_SUITES))
    console.print(f"[dim]done in {time.perf_counter() - t0:.0f}s; results in {store.path}. "
                  "Next: `medtune variants`, `medtune dashboard`.[/]")
