"""Where a variant came from (its lineage record) and its registration in the store.

(The terminal lineage tree of ``medtune variants`` is drawn in ``harness/cli/variants_view.py``.)

The variant row, its parent (when a built-in or a directory is first used as a base) and its
loss curve are written in ONE transaction at the end of training: a reader never sees a
variant without its curve, and an interrupted run leaves nothing in the DB.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from tuning.data import TrainingData, file_entry
from tuning.outcome import Outcome, TrainStats, TuneContext, config_hash


def outcome(recipe, ctx: TuneContext, parent, kind: str, td: TrainingData, stats: TrainStats,
            extra: dict | None = None) -> Outcome:
    """The lineage record of a finished run (``data_files`` is read by the leakage audit)."""
    import torch
    import transformers

    from harness.store.runs import code_version

    from harness import distributed

    files = list(td.files)
    if td.canaries:
        path = ctx.output / "canaries.jsonl"

        def write_canaries():  # rank 0 writes; every rank records the same entry
            path.write_text("".join(json.dumps(r, default=str) + "\n" for r in td.canaries))
            return file_entry(path, "canary", "jsonl")

        files.append(distributed.on_main(write_canaries))
    last = {k: next((c[k] for c in reversed(stats.curves) if c[k] is not None), None) for k in ("train_loss", "eval_loss")}
    evals = [c["eval_loss"] for c in stats.curves if c["eval_loss"] is not None]
    lineage = {
        "parent": parent.name, "parent_path": parent.adapter or parent.path, "method": recipe.method,
        "config": recipe.model_dump(), "config_hash": config_hash(recipe),
        "data_files": files, "eval_ids": td.eval_ids, "n_train_examples": len(td.train), "n_eval_examples": len(td.eval),
        "special_tokens_added": td.special_tokens, "canaries": td.canaries,
        "tokens_seen": stats.tokens_seen, "seed": recipe.train.seed, "code_version": code_version(),
        "wall_s": stats.wall_s, "tokens_per_s": stats.tokens_per_s, "peak_memory_bytes": stats.peak_memory_bytes,
        "device": stats.device, "resumed_from_step": stats.resumed_from_step, "stopped_early": stats.stopped_early,
        "world_size": stats.world_size, "strategy": stats.strategy, "global_batch": stats.global_batch,
        "final_train_loss": last["train_loss"], "final_eval_loss": last["eval_loss"],
        "best_eval_loss": min(evals) if evals else None,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    return Outcome(name=recipe.name, path=str(ctx.output), kind=kind, method=recipe.method, lineage=lineage,
                   curves=stats.curves)


def register(store, out: Outcome) -> None:
    """Parent (if new), variant row and loss curve, in one transaction (harness.store.variants)."""
    from harness.models import resolve
    from harness.store.variants import register_tuned

    parent_ref = resolve(out.parent_path) if Path(out.parent_path).is_dir() else None
    register_tuned(store, name=out.name, path=out.path, kind=out.kind, method=out.method, parent=out.parent,
                   parent_path=out.parent_path, parent_kind=parent_ref.kind if parent_ref else out.kind,
                   lineage=out.lineage, curves=out.curves)


@contextlib.contextmanager
def claim(name: str, output: Path, db: Path):
    """Hold the variant name (in this results DB) and its output folder for the whole run: a second
    ``medtune tune`` of the same name or folder at the same time is refused at once, instead of both
    training into one folder and both registering (one silently replacing the other)."""
    from harness.errors import MedtuneError
    from harness.settings import cache_dir

    folder = cache_dir() / "tune-locks"
    folder.mkdir(parents=True, exist_ok=True)
    held = []
    try:
        for what, key in ((f"variant {name!r}", f"name\0{Path(db).resolve()}\0{name}"),
                          (f"the output folder {output}", f"output\0{Path(output).resolve()}")):
            f = open(folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock", "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                raise MedtuneError(f"{what} is being tuned by another medtune process right now: wait for it to "
                                   "finish (then its name is taken: --force retrains it), or --set name=OTHER") from None
            held.append(f)
        yield
    finally:
        for f in held:
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
