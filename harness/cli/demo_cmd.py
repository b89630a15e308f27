"""``medtune demo``: the README's main job on the embedded defaults.

Tunes ``smollm2-135m`` on PubMedQA's train ids (``demo_sft_pubmedqa``), measures the variant
against its parent on the same PubMedQA test items and on the forgetting index's general tasks
(paired tests), audits its training data for overlap with every suite, judges it with
``harness/gate/policies/demo.yaml``, and prints a verdict (``harness.verdict``). The loop is
``harness/cli/demo_loop.py``; every step reuses what the DB holds, so a second run takes seconds.
"""

from __future__ import annotations

from typing import Optional

import typer

from harness.cli.common import DATA_OPT, DB_OPT, console, progress_bar
from harness.cli.demo_loop import GENERAL_LIMIT, LIMIT


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def demo_cmd(
    limit: int = typer.Option(LIMIT, "--limit", "-n", help="PubMedQA test questions scored (paired: the same for both)"),
    general_limit: int = typer.Option(GENERAL_LIMIT, "--general-limit",
                                      help="Items of each general task (HellaSwag, ARC-Challenge, WinoGrande)"),
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
):
    """Tune smollm2-135m on PubMedQA, measure it against its parent, audit and gate it; print the verdict."""
    import time

    from harness import settings
    from harness.cli.demo_loop import report, run
    from harness.evaluate import RunSettings
    from harness.store import Store

    t0 = time.perf_counter()
    RunSettings(limit=limit)  # checked before any tuning: --limit 0 must not cost a training
    RunSettings(limit=general_limit)
    store, root = Store(settings.db_path(db)), settings.data_root(data_root)
    with progress_bar() as bar:
        def progress(label, total):
            task = bar.add_task(label, total=total, rate="")
            return lambda n: bar.advance(task, n)

        result = run(store, root, limit=limit, general_limit=general_limit, progress=progress,
                     echo=lambda m: console.print(f"[dim]{m}[/]", highlight=False))
    report(console, result, store, time.perf_counter() - t0)
