"""The shared steps of a tuning run: context, data, Trainer, and ``tune()`` which runs a method.

A method (``tuning/methods/*.py``) reads top to bottom with these functions: resolve the
parent, read the data, load the model, build features, ``train()``, save, ``outcome()``.
``tune()`` wraps it: checks the output folder (resume or refuse), runs the method, and
registers the variant with its lineage and loss curve in one store transaction (``tuning.lineage``,
the only registration). The data types shared with the methods live in ``tuning.outcome``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable

from harness import distributed
from harness.errors import ConfigError, MedtuneError
from tuning import data as tdata
from tuning.outcome import Outcome, TrainStats, TuneContext, config_hash  # noqa: F401  (re-exported for callers)

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.json"


# -- data -------------------------------------------------------------------------------------
def read_data(recipe, ctx: TuneContext) -> tdata.TrainingData:
    """Corpus, split, and the early checks of replay and canaries (before any model is loaded)."""
    td = tdata.load_training_data(recipe.data, ctx.data_root, recipe.train.seed)
    tdata.check_replay_source(recipe.data.replay, ctx.data_root)
    if recipe.data.canaries is not None:
        tdata.require_canaries()
    return td


def complete_data(recipe, ctx: TuneContext, td: tdata.TrainingData, parent, model=None, tokenizer=None) -> None:
    """Mix in replay (self-synthesised by ``model`` if asked) and plant canaries in the train split."""
    replay = recipe.data.replay
    if replay is not None:
        tdata.add_replay(td, replay, ctx.data_root, recipe.train.seed,
                         generate=lambda n: _self_replay(parent, model, tokenizer, n, replay, recipe.train.seed, ctx))
    if recipe.data.canaries is not None:
        tdata.plant(td, recipe.data.canaries, tdata.require_canaries())


def _self_replay(parent, model, tokenizer, n: int, replay, seed: int, ctx: TuneContext) -> list[str]:
    from harness.settings import cache_dir
    from tuning.models import self_generate

    if model is None or not hasattr(model, "generate"):
        raise ConfigError("data.replay.file 'self' needs a causal parent; name a text file instead")
    weights = Path(parent.adapter or parent.path)
    stamp = max((p.stat().st_mtime for p in weights.glob("*.safetensors")), default=0)
    key = hashlib.sha256(f"{weights}|{stamp}|{n}|{replay.self_max_new_tokens}|{seed}".encode()).hexdigest()[:16]
    cached = cache_dir() / "replay" / f"{key}.jsonl"

    def generate() -> list[str]:  # rank 0 generates and caches; every rank trains on the same passages
        if cached.exists():
            return [json.loads(line) for line in cached.read_text().splitlines()]
        ctx.echo(f"generating {n} self-rehearsal passages from {parent.name} (cached in {cached.parent})")
        texts = self_generate(model, tokenizer, n, replay.self_max_new_tokens, seed)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text("".join(json.dumps(t) + "\n" for t in texts))
        return texts

    return distributed.on_main(generate)


# -- training ---------------------------------------------------------------------------------
def training_arguments(recipe, ctx: TuneContext, device: str, dtype):
    import torch
    from transformers import TrainingArguments

    t = recipe.train
    early = t.patience is not None
    fixed = dict(
        output_dir=str(ctx.output / CHECKPOINTS), seed=t.seed, data_seed=t.seed,
        learning_rate=t.lr, lr_scheduler_type=t.scheduler, weight_decay=t.weight_decay,
        warmup_steps=int(t.warmup) if t.warmup >= 1 else t.warmup,
        per_device_train_batch_size=t.batch, per_device_eval_batch_size=t.batch,
        gradient_accumulation_steps=t.grad_accum, num_train_epochs=t.epochs, max_steps=t.max_steps,
        eval_strategy="steps", eval_steps=t.eval_every, save_strategy="steps", save_steps=t.eval_every,
        save_total_limit=2, load_best_model_at_end=early, metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None, logging_steps=t.log_every, logging_first_step=True,
        include_num_input_tokens_seen="non_padding", report_to="none", disable_tqdm=True,
        remove_unused_columns=False, dataloader_pin_memory=device.startswith("cuda"),
        use_cpu=device == "cpu", bf16=dtype == torch.bfloat16,
    )
    from tuning.recipe import trainer_arg_name

    given = {trainer_arg_name(k): v for k, v in t.trainer_args.items()}  # activation_checkpointing on < 5.24
    try:  # names were checked with the recipe (tuning.recipe.trainer_arg_problem); values are checked here
        return TrainingArguments(**{**fixed, **given})
    except (ValueError, TypeError, ImportError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"train.trainer_args {t.trainer_args}: TrainingArguments refused them ({first})") from None


def early_training_arguments(recipe, ctx: TuneContext):
    """TrainingArguments built BEFORE any weight loads, when the ranks shard the weights with DeepSpeed ZeRO-3
    (None otherwise). Building them creates accelerate's DeepSpeed plugin, whose HfDeepSpeedConfig (kept alive by
    these arguments, which ``train`` then uses) makes ``from_pretrained`` create the model under
    ``deepspeed.zero.Init`` (zero3_init_flag): each rank then holds its shard, never the whole model."""
    from tuning import models

    device, dtype = models.device_dtype(recipe.train)
    if models.sharding(recipe.train, device) != "zero3":
        return None
    return training_arguments(recipe, ctx, "cuda" if device.startswith("cuda") else "cpu", dtype)


def train_device(recipe, model) -> str:
    """cuda or cpu for the Trainer. Under a launcher the weights may still be on the CPU (the Trainer or
    accelerate places them, one device per rank), so the recipe's device decides too."""
    from harness.models.hf_load import pick_device

    on_cuda = next(model.parameters()).is_cuda or pick_device(recipe.train.device).startswith("cuda")
    return "cuda" if on_cuda else "cpu"


def parallel_layout(trainer, recipe) -> dict:
    """World size, strategy (ddp / fsdp2 / deepspeed-zeroN; single in one process) and the global batch."""
    from accelerate.utils import DistributedType

    acc = trainer.accelerator
    kind, world = acc.state.distributed_type, acc.num_processes
    if kind == DistributedType.FSDP:
        strategy = f"fsdp{getattr(acc.state.fsdp_plugin, 'fsdp_version', 1)}"
    elif kind == DistributedType.DEEPSPEED:
        strategy = f"deepspeed-zero{acc.state.deepspeed_plugin.zero_stage}"
    else:
        strategy = "ddp" if world > 1 else "single"
    return {"world_size": world, "strategy": strategy,
            "global_batch": recipe.train.batch * recipe.train.grad_accum * world}


def train(recipe, ctx: TuneContext, model, tokenizer, train_features, eval_features, collator) -> TrainStats:
    """Trainer with validation, early stopping, checkpoints (resumable), progress and the loss curve."""
    import torch
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, set_seed

    from tuning.progress import RichProgress

    if not train_features:
        raise MedtuneError("no training features: the corpus is empty after tokenisation")
    set_seed(recipe.train.seed)
    device = train_device(recipe, model)
    args = ctx.training_args  # built before the model loaded (DeepSpeed ZeRO-3: see early_training_arguments)
    if args is None:
        args = training_arguments(recipe, ctx, device, next(model.parameters()).dtype)
    callbacks = list(ctx.callbacks)
    if recipe.train.patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=recipe.train.patience))
    if ctx.show_progress:
        callbacks.append(RichProgress(recipe.name))
    trainer = Trainer(model=model, args=args, train_dataset=train_features, eval_dataset=eval_features,
                      data_collator=collator, processing_class=tokenizer, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # the progress bar shows the loss; the curve goes to the DB
    ctx.trainer = trainer
    asked = os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" or \
        os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    if asked and not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        ctx.echo("FSDP / DeepSpeed need CUDA devices: accelerate runs this CPU run as plain DDP")
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    done = checkpoints(ctx.output / CHECKPOINTS) if ctx.resume else []
    last = done[-1] if done else None
    first_step, tokens_before = _checkpoint_progress(last) if last else (0, 0)
    if distributed.is_main():
        _stamp_checkpoints(recipe, ctx)
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    wall = time.perf_counter() - started
    state = trainer.state
    return TrainStats(
        curves=curves(state.log_history), tokens_seen=int(state.num_input_tokens_seen), wall_s=round(wall, 2),
        tokens_per_s=round((state.num_input_tokens_seen - tokens_before) / wall, 1) if wall > 0 else None,
        peak_memory_bytes=peak_memory(device), device=device, resumed_from_step=first_step,
        stopped_early=state.global_step < state.max_steps, **parallel_layout(trainer, recipe))


def _checkpoint_progress(last: Path) -> tuple[int, int]:
    """Step and tokens seen of the checkpoint a resumed run starts from."""
    state = json.loads((last / TRAINER_STATE).read_text())
    return int(state["global_step"]), int(state.get("num_input_tokens_seen") or 0)


def _step(path: Path) -> int | None:
    m = re.fullmatch(r"checkpoint-(\d+)", path.name)
    return int(m.group(1)) if m and path.is_dir() else None


def _complete(path: Path) -> bool:
    """The Trainer writes ``trainer_state.json`` last: a checkpoint without it (or with it cut short)
    was torn by a kill while saving. Its weights must be whole too (a ``.safetensors`` cut short, or a
    ``.pt``/``.bin`` zip without its directory, e.g. a full disk): such a checkpoint fails every resume."""
    return _state_ok(path) and all(_whole_file(f) for f in path.iterdir()
                                   if f.suffix in (".safetensors", ".pt", ".bin", ".pth"))


def _state_ok(path: Path) -> bool:
    try:
        return "global_step" in json.loads((path / TRAINER_STATE).read_text())
    except (OSError, ValueError, TypeError):
        return False


def _whole_file(path: Path) -> bool:
    """A safetensors file as long as its header says, or a torch zip whose central directory reads."""
    import struct
    import zipfile

    try:
        if path.suffix == ".safetensors":
            with open(path, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
            return path.stat().st_size >= 8 + n + end
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                z.namelist()
            return True
        return path.stat().st_size > 0  # an old pickle format: nothing cheap to check beyond being there
    except (OSError, ValueError, KeyError, TypeError, struct.error, zipfile.BadZipFile):
        return False


def checkpoints(folder: Path) -> list[Path]:
    """The complete checkpoints in ``folder``, oldest first."""
    found = [p for p in folder.glob("checkpoint-*") if _step(p) is not None and _complete(p)]
    return sorted(found, key=_step)


def drop_torn_checkpoints(folder: Path, echo: Callable[[str], None]) -> None:
    """Remove checkpoints a kill left half-written (they would block every resume), with one notice."""
    torn = sorted((p for p in folder.glob("checkpoint-*") if _step(p) is not None and not _complete(p)), key=_step)
    if not torn:
        return
    state_ok = all(_state_ok(p) for p in torn)  # then it is the weights that were cut short
    for path in torn:
        shutil.rmtree(path)
    good = checkpoints(folder)
    why = "its weights are cut short" if state_ok else f"no complete {TRAINER_STATE}"
    echo(f"discarded incomplete {', '.join(p.name for p in torn)} (interrupted while saving: {why}); "
         + (f"resuming from {good[-1].name}" if good else "starting afresh"))


def curves(history: list[dict]) -> list[dict]:
    """Trainer log history -> one row per step: train loss, eval loss, lr, tokens seen."""
    rows: dict[int, dict] = {}
    for h in history:
        if "train_loss" in h:  # the end-of-training summary, not a point on the curve
            continue
        row = rows.setdefault(h["step"], {"step": h["step"], "epoch": None, "train_loss": None, "eval_loss": None,
                                          "learning_rate": None, "tokens_seen": None})
        row["epoch"] = h.get("epoch", row["epoch"])
        for src, dst in (("loss", "train_loss"), ("eval_loss", "eval_loss"), ("learning_rate", "learning_rate"),
                         ("num_input_tokens_seen", "tokens_seen")):
            if h.get(src) is not None:
                row[dst] = float(h[src]) if dst != "tokens_seen" else int(h[src])
    return [rows[s] for s in sorted(rows)]


def peak_memory(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.max_memory_allocated())
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


# -- saving -----------------------------------------------------------------------------------
def save_variant(model, tokenizer, out: Path, seq_length: int, trainer=None, **save_kwargs) -> None:
    """An ordinary HF directory: safetensors weights (or a peft adapter) plus the tokenizer.

    Under a launcher every rank calls this: ``Trainer.save_model`` gathers FSDP / DeepSpeed shards into
    whole weights and rank 0 alone writes them; ``save_kwargs`` (peft's) are applied where the weights
    are whole on rank 0 (DDP)."""
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None) or seq_length
    tokenizer.model_max_length = int(limit)
    if trainer is not None and distributed.launched():
        trainer.save_model(str(out))  # a collective for sharded weights: every rank takes part
        if distributed.is_main():
            if save_kwargs and not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
                trainer.accelerator.unwrap_model(trainer.model).save_pretrained(out, **save_kwargs)
            tokenizer.save_pretrained(out)
            (out / "training_args.bin").unlink(missing_ok=True)
        distributed.barrier()
        return
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, **save_kwargs)
    tokenizer.save_pretrained(out)


# -- the whole run ----------------------------------------------------------------------------
def prepare_output(recipe, ctx: TuneContext, force: bool, restart: bool) -> None:
    """Resume this recipe's checkpoints, or refuse to mix runs of different configs."""
    from harness.store.variants import get_variant

    ckpts = ctx.output / CHECKPOINTS
    stamp = ckpts / "recipe.json"
    if restart and ckpts.exists():
        shutil.rmtree(ckpts)
    drop_torn_checkpoints(ckpts, ctx.echo)
    if checkpoints(ckpts) and _stamp_hash(stamp) is _TORN:  # whose config wrote them is unknown: not resumable
        shutil.rmtree(ckpts)
        ctx.echo(f"discarded {ckpts.name}/: its {stamp.name} is unreadable (interrupted while written), so its "
                 "checkpoints cannot be matched to this config; starting afresh")
    if checkpoints(ckpts):
        if _stamp_hash(stamp) != config_hash(recipe):
            raise ConfigError(f"{ckpts} holds checkpoints of a different config of {recipe.name!r}: "
                              "pass --restart to discard them, or set output_dir elsewhere")
        ctx.resume = True
    elif get_variant(ctx.store, recipe.name) is not None and not force:
        raise ConfigError(f"variant {recipe.name!r} is already registered: pass --force to retrain it, "
                          "or --set name=OTHER")


_TORN = object()


def _stamp_hash(stamp: Path):
    """The config hash in ``checkpoints/recipe.json``: None when there is none, ``_TORN`` when unreadable."""
    if not stamp.exists():
        return None
    try:
        return json.loads(stamp.read_text()).get("hash")
    except (OSError, ValueError, AttributeError):
        return _TORN


def _stamp_checkpoints(recipe, ctx: TuneContext) -> None:
    """Mark the checkpoint folder with the config that writes it (checked before resuming)."""
    ckpts = ctx.output / CHECKPOINTS
    ckpts.mkdir(parents=True, exist_ok=True)
    tmp = ckpts / f"recipe.json.{os.getpid()}.tmp"  # written whole or not at all (a kill never tears it)
    tmp.write_text(json.dumps({"hash": config_hash(recipe), "recipe": recipe.model_dump()}, default=str))
    os.replace(tmp, ckpts / "recipe.json")


def tune(recipe, ctx: TuneContext, force: bool = False, restart: bool = False) -> Outcome:
    from transformers import set_seed

    from tuning.lineage import register
    from tuning.methods import get_method

    if distributed.launched():  # one process group for the run: gloo on CPU, NCCL on CUDA
        from harness.models.hf_load import pick_device

        distributed.init(cpu=not pick_device(recipe.train.device).startswith("cuda"))

    def check_output() -> bool:  # rank 0 alone reads the DB and the output folder; the others learn the verdict
        check = getattr(ctx.store, "check", None)
        if check is not None:  # a foreign DB file is refused now, not after the training it would not record
            check()
        prepare_output(recipe, ctx, force, restart)
        return ctx.resume

    if not distributed.is_main():  # one voice: rank 0 prints notices and the progress bar
        ctx.echo, ctx.show_progress = (lambda message: None), False
    ctx.resume = distributed.on_main(check_output)
    ctx.training_args = early_training_arguments(recipe, ctx)  # ZeRO-3: the DeepSpeed config live while loading
    set_seed(recipe.train.seed)  # before any weights are created: LoRA adapters, fresh heads, resized embeddings
    outcome = get_method(recipe.method)(recipe, ctx)

    def finish() -> None:  # rank 0 alone registers (one transaction; the store's single writer)
        register(ctx.store, outcome)
        shutil.rmtree(ctx.output / CHECKPOINTS, ignore_errors=True)  # the variant is saved; checkpoints were for resuming

    distributed.on_main(finish)
    return outcome
