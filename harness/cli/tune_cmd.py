"""``medtune tune RECIPE`` (train one variant and register it) and ``medtune variants`` (lineage tree)."""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.common import DATA_OPT, DB_OPT, console, relaunch_if_asked


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_cmd)
    app.command("variants")(variants_cmd)


def tune_cmd(
    recipe: str = typer.Argument(..., help="Recipe YAML file, or the name of a shipped recipe (tuning/recipes/)"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a recipe field: dotted.key=value (YAML); repeatable"),
    force: bool = typer.Option(False, "--force", help="Retrain a variant that is already registered"),
    restart: bool = typer.Option(False, "--restart", help="Discard checkpoints of an interrupted run instead of resuming"),
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
    processes: int = typer.Option(1, "--processes", help="Data-parallel (DDP) over N local processes, one per GPU "
                                  "(gloo on CPU); FSDP/DeepSpeed/multi-node: `accelerate launch --config_file ...`"),
):
    """Train one variant from a recipe and register it (with lineage and loss curve) in the DB.

    An interrupted run resumes from its last checkpoint when the same command is run again.
    """
    from harness import distributed, settings
    from harness.store import Store
    from tuning.recipe import load_recipe, parse_sets
    from tuning.train import TuneContext, tune

    spec = load_recipe(recipe, parse_sets(set_))  # a bad recipe is refused before any process is started
    relaunch_if_asked(processes)
    store = Store(settings.db_path(db))
    if distributed.is_main():
        store.check()  # a foreign DB file is refused before training, and never written to
    ctx = TuneContext(store=store, data_root=settings.data_root(data_root),
                      output=spec.output_path(), echo=lambda m: console.print(f"[dim]{m}[/]"))
    if distributed.is_main():
        console.print(f"[bold]{spec.name}[/]: {spec.method} on {spec.base} -> {ctx.output}")
    out = tune(spec, ctx, force=force, restart=restart)
    if not distributed.is_main():
        return
    lin = out.lineage
    loss = f"eval loss {lin['final_eval_loss']:.3f}" if lin.get("final_eval_loss") is not None else ""
    console.print(f"registered [bold]{out.name}[/] ({out.method}, parent {out.parent}): {lin['tokens_seen']:,} tokens "
                  f"in {lin['wall_s']:.0f}s ({lin['tokens_per_s'] or 0:.0f} tokens/s) {loss}")
    console.print(next_step(out.name, lin, spec.data.files))


def next_step(name: str, lineage: dict, files: list[str]) -> str:
    """What to run on a new variant: the suite its kind of model can be scored on."""
    objective = lineage.get("objective")
    if objective == "token_classification":
        from suites import list_suites, load_suite

        folders = {f.rsplit("/", 1)[0] for f in files}
        matching = [s for s in list_suites() if load_suite(s).spec.data.path.rsplit("/", 1)[0] in folders]
        return f"evaluate it: medtune eval --variant {name} --suite {(matching or ['ner_ncbi_disease'])[0]}"
    if objective == "masked_lm":
        return f"tune a task head on it: medtune tune ner_head_ncbi --set base={name} --set name={name}-ner"
    return f"evaluate it: medtune eval --variant {name} --suite pubmedqa --limit 20"


def variants_cmd(db: Optional[str] = DB_OPT):
    """The registered variants as a lineage tree (parent -> children)."""
    from harness import settings
    from harness.store import Store
    from harness.store.variants import list_variants
    from harness.cli.variants_view import variant_tree

    store = Store(settings.db_path(db))
    rows = list_variants(store)
    if not rows:
        console.print("no variants yet: run `medtune tune demo_dapt_smollm2`")
        return
    console.print(variant_tree(rows))
