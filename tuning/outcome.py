"""What a tuning run is given and what it returns: ``TuneContext`` in, ``TrainStats`` from the
Trainer, ``Outcome`` (the variant and its lineage record) out.

Plain data only, so that the shared training steps (``tuning.train``), the lineage record
(``tuning.lineage``) and the methods all import it without importing each other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass
class TuneContext:
    store: object  # harness.store.Store
    data_root: Path
    output: Path
    resume: bool = False  # set by tune(): checkpoints of this exact recipe exist
    callbacks: list = field(default_factory=list)  # extra TrainerCallbacks (tests interrupt a run with one)
    echo: Callable[[str], None] = print
    show_progress: bool = True
    trainer: object = None  # the Trainer of this run (set by tuning.train.train; save_variant saves through it)
    training_args: object = None  # TrainingArguments built before the model loads (DeepSpeed ZeRO-3; tuning.train.tune)


@dataclass
class TrainStats:
    curves: list[dict]
    tokens_seen: int
    wall_s: float
    tokens_per_s: float | None
    peak_memory_bytes: int
    device: str
    resumed_from_step: int
    stopped_early: bool
    world_size: int = 1  # processes that trained (data-parallel ranks)
    strategy: str = "single"  # single, ddp, fsdp / fsdp2, deepspeed-zeroN
    global_batch: int | None = None  # sequences per optimizer step over all ranks


@dataclass
class Outcome:
    """A trained variant. Its parent is read from the lineage record, so the two cannot disagree."""

    name: str
    path: str
    kind: str
    method: str
    lineage: dict
    curves: list[dict]

    @property
    def parent(self) -> str:
        return self.lineage["parent"]

    @property
    def parent_path(self) -> str:
        """Where the parent's weights are: its adapter directory for an adapter parent, else its model directory."""
        return self.lineage["parent_path"]


def config_hash(recipe) -> str:
    payload = json.dumps(recipe.model_dump(exclude={"description"}), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
