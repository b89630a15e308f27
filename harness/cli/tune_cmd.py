"""``medtune tune RECIPE`` (train one variant and register it) and ``medtune variants`` (lineage tree)."""

from __future__ import annotations

import contextlib
from typing import Optional

import typer

from harness.cli.common import (DATA_OPT, DB_OPT, SUITES_DIR_OPT, check_processes, console, relaunch_if_asked,
                                use_suite_dirs)


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
    suites_dir: Optional[list[str]] = SUITES_DIR_OPT,
):
    """Train one variant from a recipe and register it (with lineage and loss curve) in the DB.

    An interrupted run resumes from its last checkpoint when the same command is run again.
    """
    from harness import distributed, settings
    from harness.store import Store
    from tuning.lineage import claim
    from tuning.recipe import load_recipe, parse_sets
    from tuning.train import TuneContext, tune

    use_suite_dirs(suites_dir)  # your suites: the next step suggested may be one of them
    spec = load_recipe(recipe, parse_sets(set_))  # a bad recipe is refused before any process is started
    output = spec.output_path()
    check_processes(processes)
    store = Store(settings.db_path(db))
    if distributed.is_main():
        store.check()  # a foreign DB file is refused before training, and never written to
    root = settings.data_root(data_root)
    # the name and the output folder are this run's until it ends (the launcher of --processes holds them)
    held = claim(spec.name, output, store.path) if not distributed.launched() else contextlib.nullcontext()
    with held:
        relaunch_if_asked(processes)
        ctx = TuneContext(store=store, data_root=root, output=output, echo=lambda m: console.print(f"[dim]{m}[/]"))
        if distributed.is_main():
            console.print(f"[bold]{spec.name}[/]: {spec.method} on {spec.base} -> {ctx.output}")
        out = tune(spec, ctx, force=force, restart=restart)
    if not distributed.is_main():
        return
    lin = out.lineage
    loss = f"eval loss {lin['final_eval_loss']:.3f}" if lin.get("final_eval_loss") is not None else ""
    console.print(f"registered [bold]{out.name}[/] ({out.method}, parent {out.parent}): {lin['tokens_seen']:,} tokens "
                  f"in {lin['wall_s']:.0f}s ({lin['tokens_per_s'] or 0:.0f} tokens/s) {loss}")
    console.print(next_step(out.name, lin, spec.data.files, ctx.data_root))


def next_step(name: str, lineage: dict, files: list[str], data_root=None) -> str:
    """What to run on a new variant: a suite its kind of model can be scored on (a tagger: one whose data
    has the very label set it was trained on, its training data's folder first)."""
    objective = lineage.get("objective")
    if objective == "token_classification":
        matching = _ner_suites_with_labels(lineage.get("labels"), data_root)
        folders = {f.rsplit("/", 1)[0] for f in files}
        matching.sort(key=lambda pair: not any(p.rsplit("/", 1)[0] in folders for p in pair[1]))
        if not matching:
            return (f"no suite's data has its labels {lineage.get('labels')}: add a CoNLL suite with them (README: "
                    f"Add your own eval set), then: medtune eval --variant {name} --suite YOUR_SUITE")
        return f"evaluate it: medtune eval --variant {name} --suite {matching[0][0]}"
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


def _ner_suites_with_labels(labels, data_root) -> list[tuple[str, list[str]]]:
    """(suite, its data paths) of the NER suites whose data's label set is ``labels`` (every NER suite when the
    labels are unknown); a suite whose data cannot be read here is left out."""
    from harness.errors import MedtuneError
    from suites import list_suites, load_suite

    out = []
    for suite_name in list_suites():
        if suite_name.startswith("lmeval:"):
            continue
        try:
            suite = load_suite(suite_name)
            if suite.spec.type != "ner":
                continue
            if labels is not None:
                if data_root is None:
                    continue
                if set(suite.type.labels(suite.docs(data_root))) != set(labels):
                    continue
        except MedtuneError:
            continue
        out.append((suite_name, suite.spec.data.paths))
    return out
