"""A tuning recipe: one validated object read from YAML (``tuning/recipes/*.yaml``).

Unknown keys are errors that name the key and the file; ``--set a.b=value`` overrides are
applied to the raw YAML before validation, so they are checked exactly like file contents.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness.config import YamlDoc, format_loc, load_yaml, parse_pairs
from harness.errors import ConfigError

RECIPES_DIR = Path(__file__).parent / "recipes"

# transformers' SchedulerType values that run without ``lr_scheduler_kwargs`` (recipes pass none);
# cosine_with_min_lr, cosine_warmup_with_min_lr and warmup_stable_decay need such kwargs.
# tests/tuning/test_recipes.py checks this list against the installed transformers.
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt", "reduce_lr_on_plateau", "greedy")
Scheduler = Literal[SCHEDULERS]  # type: ignore[valid-type]
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class _Strict(BaseModel):
    # .inf / .nan are YAML floats: a learning rate of .inf trains with NaN losses, epochs of .inf never end
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Replay(_Strict):
    """General-domain text mixed into training to reduce forgetting.

    ``file``: a text file, one passage a line (relative to the data root, or absolute), or
    ``self``: passages the parent model generates itself (self-synthesised rehearsal, cached).
    The forgetting suite's eval sets (``general/``, ``wikitext2_test.raw``) are refused: replaying
    them would train on the very texts that measure forgetting.
    """

    file: str = "self"
    ratio: float = Field(0.1, gt=0, lt=1, description="fraction of training examples that are replay")
    self_max_new_tokens: int = Field(48, ge=8, description="length of each self-generated passage")


class Canaries(_Strict):
    """Planted secrets for the leakage audit (tuning.canaries.plant_canaries)."""

    count: int = Field(10, ge=1)
    repetitions: int = Field(1, ge=1)
    seed: int = 0


class Data(_Strict):
    files: list[str] = Field(default_factory=list, description="corpus files, relative to the data root "
                             "(pubmedqa: read from the pubmedqa suite's data)")
    format: Literal["text", "icd10", "pubmedqa", "conll"] = Field(
        "text", description="text: one passage a line; icd10: code<TAB>description<TAB>inclusions rows, "
        "serialised as tagged records; pubmedqa: PQA-L train split (ids outside the official test set); "
        "conll: token<TAB>tag files (read by the ner_head method)")
    limit: Optional[int] = Field(None, ge=1, description="use only the first N records (small budgets)")
    eval_size: float = Field(0.05, gt=0, description="validation split: a fraction (<1) or a count (>=1)")
    qa_loss: Literal["answer", "all"] = Field(
        "answer", description="pubmedqa: loss on the answer only (supervised QA), or on every token of prompt + "
        "answer (language modelling of the records: what memorisation / membership-inference studies train)")
    special_tokens: Optional[list[str]] = Field(
        None, description="tokens added to the tokenizer (default for icd10: the record tags)")
    replay: Optional[Replay] = None
    canaries: Optional[Canaries] = None

    @model_validator(mode="after")
    def _needs_files(self):
        if self.format != "pubmedqa" and not self.files:
            raise ValueError(f"format {self.format} needs at least one file in data.files")
        if self.qa_loss != "answer" and self.format != "pubmedqa":
            raise ValueError(f"qa_loss applies to format pubmedqa, not {self.format}")
        return self


class Train(_Strict):
    lr: float = Field(5e-5, gt=0)
    warmup: float = Field(0.0, ge=0, description="warm-up: a fraction of the steps (<1) or a step count (>=1)")
    scheduler: Scheduler = "linear"
    batch: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1, description="stop after this many optimizer steps (-1: run the epochs)")
    seq_length: int = Field(256, ge=8)
    eval_every: int = Field(50, ge=1, description="steps between validation evaluations (and checkpoints)")
    log_every: int = Field(5, ge=1)
    patience: Optional[int] = Field(3, ge=1, description="early stopping: evals without improvement (null: off)")
    weight_decay: float = Field(0.0, ge=0)
    mlm_probability: float = Field(0.15, gt=0, lt=1)
    seed: int = 42
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    trainer_args: dict[str, Any] = Field(
        default_factory=dict, description="further transformers TrainingArguments (activation_checkpointing, bf16, "
        "optim, torch_compile, use_liger_kernel, ...): names checked against TrainingArguments; the ones medtune "
        "sets from the fields above are refused")

    @field_validator("trainer_args")
    @classmethod
    def _trainer_args(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for key, arg in value.items():
            problem = trainer_arg_problem(key) or trainer_arg_type_problem(key, arg)
            if problem is None and key == "fp16" and arg is True and _runs_on_cpu(info.data.get("device", "auto")):
                problem = ("fp16 mixed precision needs a CUDA GPU and this run trains on the CPU (train.device "
                           f"{info.data.get('device', 'auto')}): leave it out, or use bf16: true")
            if problem:
                raise PydanticCustomError("trainer_arg", "{problem}", {"key": key, "problem": problem})
        return value

    @field_validator("max_steps")
    @classmethod
    def _steps(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (run the epochs) or at least 1, not 0")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE.fullmatch(value):
            raise ValueError(f"{value!r} is not a device: expected auto, cpu, cuda, cuda:N or mps")
        return value


# TrainingArguments that medtune sets itself (-> the recipe field that controls it, or None: fixed by medtune)
MEDTUNE_TRAINER_ARGS = {
    "output_dir": "output_dir", "seed": "train.seed", "data_seed": "train.seed", "learning_rate": "train.lr",
    "lr_scheduler_type": "train.scheduler", "weight_decay": "train.weight_decay", "warmup_steps": "train.warmup",
    "warmup_ratio": "train.warmup", "per_device_train_batch_size": "train.batch",
    "per_device_eval_batch_size": "train.batch", "gradient_accumulation_steps": "train.grad_accum",
    "num_train_epochs": "train.epochs", "max_steps": "train.max_steps", "eval_strategy": "train.eval_every",
    "eval_steps": "train.eval_every", "save_strategy": "train.eval_every", "save_steps": "train.eval_every",
    "logging_steps": "train.log_every", "load_best_model_at_end": "train.patience",
    "metric_for_best_model": "train.patience", "greater_is_better": "train.patience", "use_cpu": "train.device",
    "save_total_limit": None, "logging_first_step": None, "include_num_input_tokens_seen": None, "report_to": None,
    "disable_tqdm": None, "remove_unused_columns": None, "resume_from_checkpoint": None,
}


# TrainingArguments fields transformers 5.24 renamed: the new name -> the name before (5.17 .. 5.23). A recipe may
# use the new one with either transformers (tuning.train.training_arguments passes the installed one's name).
RENAMED_TRAINER_ARGS = {"activation_checkpointing": "gradient_checkpointing",
                        "activation_checkpointing_kwargs": "gradient_checkpointing_kwargs"}


def trainer_arg_name(key: str) -> str:
    """``key`` as the installed TrainingArguments names it: a 5.24 name on an older transformers is its old name."""
    old = RENAMED_TRAINER_ARGS.get(key)
    if old is None:
        return key
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    return old if key not in names and old in names else key


def trainer_arg_problem(key: str) -> str | None:
    """Why ``train.trainer_args.<key>`` cannot be passed to TrainingArguments (None: it can)."""
    if key in MEDTUNE_TRAINER_ARGS:
        field = MEDTUNE_TRAINER_ARGS[key]
        return (f"{key} is set by medtune" + (f" from {field}: set that instead" if field else "") +
                " (trainer_args passes only what a recipe has no field for)")
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    if trainer_arg_name(key) not in names:
        import difflib

        names |= {new for new, old in RENAMED_TRAINER_ARGS.items() if old in names}  # suggest the portable name
        close = difflib.get_close_matches(key, sorted(names), n=1)
        return f"{key!r} is not a TrainingArguments field" + (f" (did you mean {close[0]!r}?)" if close else "")
    return None


def trainer_arg_type_problem(key: str, value: Any) -> str | None:
    """Why ``value`` is not of the type TrainingArguments declares for ``key`` (None: it is, or the type is not
    one a YAML value can be checked against). Checked with the recipe, so a wrong value is a file:line error
    before any model is loaded, never a crash mid-training."""
    import typing

    from pydantic import TypeAdapter
    from transformers import TrainingArguments

    try:
        hint = typing.get_type_hints(TrainingArguments).get(trainer_arg_name(key))
        adapter = TypeAdapter(hint) if hint is not None else None
    except Exception:  # noqa: BLE001 - an annotation pydantic cannot check: TrainingArguments checks it
        return None
    if adapter is None:
        return None
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError as exc:
        expected = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        return f"{value!r} is not a valid {key} ({expected}: {exc.errors()[0]['msg'].lower()})"
    return None


def _runs_on_cpu(device: str) -> bool:
    """Whether a recipe's ``train.device`` trains on the CPU (auto: when no CUDA device is visible)."""
    if device == "cpu":
        return True
    if device != "auto":
        return False
    import torch

    return not torch.cuda.is_available()


class Lora(_Strict):
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])


class Recipe(_Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str = ""
    method: str
    base: str = Field(..., description="variant name, built-in model, or HF directory")
    data: Data
    train: Train = Field(default_factory=Train)
    lora: Optional[Lora] = None
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="method-specific settings, validated by the method's Params model")
    output_dir: Optional[str] = Field(None, description="default: $MEDTUNE_VARIANTS/<name> (./variants/<name>)")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from tuning.methods import METHODS

        if value not in METHODS:
            raise ValueError(f"unknown method {value!r}; known: {', '.join(METHODS)}")
        return value

    @model_validator(mode="after")
    def _lora_block(self):
        if self.method in ("lora", "qlora") and self.lora is None:
            self.lora = Lora()
        from tuning.methods import method_params

        params_model = method_params(self.method)
        if params_model is not None:
            try:
                self.params = params_model.model_validate(self.params).model_dump()
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in ("params", *err["loc"]))
                raise ValueError(f"{where}: {'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}") from None
        elif self.params:
            raise ValueError(f"method {self.method!r} takes no params (got {', '.join(self.params)})")
        return self

    def output_path(self) -> Path:
        """The variant's folder; one that is a file, or lies under a file, is refused before any work."""
        if self.output_dir:
            path, what = Path(self.output_dir).expanduser().resolve(), f"output_dir {self.output_dir}"
        else:
            root = Path(os.environ.get("MEDTUNE_VARIANTS", "variants")).expanduser()
            path, what = (root / self.name).resolve(), f"the output folder {root / self.name} (MEDTUNE_VARIANTS)"
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{what}: {path} is a file, expected a folder for the variant (set output_dir elsewhere)")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(f"{what}: {parent} is a file, so no folder can be made under it (set output_dir "
                                      "elsewhere)")
                break
        return path


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file, or the name of a shipped recipe (``demo_dapt_smollm2``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = RECIPES_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
    raise ConfigError(f"recipe {name_or_path}: no such file and not a shipped recipe (shipped: {known})")


def apply_overrides(raw: dict, overrides: dict[str, Any]) -> dict:
    """``{"train.lr": 1e-4}`` -> raw["train"]["lr"] = 1e-4 (intermediate blocks are created)."""
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return out


def load_recipe(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read (``harness.config.load_yaml``: UTF-8, duplicate keys and YAML syntax are ``file:line``
    errors), apply ``--set`` overrides, validate. Errors name the file, the line and the field."""
    path = recipe_path(name_or_path)
    doc = load_yaml(path, "recipe")
    overrides = overrides or {}
    raw = apply_overrides(doc.data, overrides)
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]  # a typo explains the rest
        raise _field_error(doc, tuple(err["loc"]), err, overrides) from None


def _field_error(doc: YamlDoc, loc: tuple, err: dict, overrides: dict) -> ConfigError:
    """``recipe.yaml: unknown key 'train.lrate' (line 12)`` / ``recipe.yaml:12: field 'train.lr': message``;
    a field that came from ``--set`` is named as such (its line in the file would mislead)."""
    if err["type"] == "trainer_arg":  # point at the offending key, not at the whole block
        loc = (*loc, err["ctx"]["key"])
    field = format_loc(loc) or "(top level)"
    dotted = ".".join(str(p) for p in loc)
    from_set = bool(dotted) and any(k == dotted or k.startswith(dotted + ".") or dotted.startswith(k + ".")
                                    for k in overrides)
    line = "" if from_set or not loc else doc.line(loc)
    where = " (given with --set)" if from_set else (f" (line {line[1:]})" if line else "")
    if err["type"] == "extra_forbidden":
        return ConfigError(f"{doc.path}: unknown key {field!r}{where}")
    msg = err["msg"].removeprefix("Value error, ")
    return ConfigError(f"{doc.path}{line}: field {field!r}: {msg}{' (given with --set)' if from_set else ''}")


def parse_sets(pairs: list[str] | None) -> dict[str, Any]:
    """``--set train.lr=1e-4`` pairs; values parsed as YAML scalars."""
    return parse_pairs(pairs, "--set", "key=value (dotted key, e.g. train.lr=1e-4)")
