"""Recipes run on transformers 5.17 .. 5.2x: TrainingArguments fields 5.24 renamed (gradient_checkpointing ->
activation_checkpointing) are accepted under the new name and passed under the installed one's."""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class TrainingArgumentsBefore524:  # the fields that matter here, as transformers 5.17 .. 5.23 declare them
    output_dir: str | None = None
    gradient_checkpointing: bool = False
    gradient_checkpointing_kwargs: dict | None = None
    optim: str = "adamw_torch"


def test_the_5_24_name_maps_to_the_name_before(monkeypatch):
    import sys

    from transformers import TrainingArguments  # noqa: F401  (transformers' lazy module settles in sys.modules)

    from tuning.recipe import trainer_arg_name, trainer_arg_problem

    # the module ``from transformers import`` reads (sys.modules'; the lazy module may have replaced itself there)
    monkeypatch.setattr(sys.modules["transformers"], "TrainingArguments", TrainingArgumentsBefore524)
    assert trainer_arg_name("activation_checkpointing") == "gradient_checkpointing"
    assert trainer_arg_name("activation_checkpointing_kwargs") == "gradient_checkpointing_kwargs"
    assert trainer_arg_problem("activation_checkpointing") is None
    assert trainer_arg_problem("optim") is None and "not a TrainingArguments field" in trainer_arg_problem("optimm")


def test_the_installed_transformers_gets_its_own_name(tmp_path):
    from tuning.outcome import TuneContext
    from tuning.recipe import load_recipe, trainer_arg_name
    from tuning.train import training_arguments

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: ckpt\nmethod: dapt\nbase: smollm2-135m-instruct\ndata:\n  files: [corpus/bio.txt]\n"
                      "train:\n  trainer_args:\n    activation_checkpointing: true\n")
    spec = load_recipe(recipe)
    args = training_arguments(spec, TuneContext(store=None, data_root=tmp_path, output=tmp_path / "out"), "cpu",
                              torch.float32)
    assert getattr(args, trainer_arg_name("activation_checkpointing")) is True
    assert trainer_arg_name("optim") == "optim"


def test_sharded_adapters_checkpoint_with_the_installed_method(tiny_causal):
    """add_lora's sharded QLoRA path calls activation_checkpointing_enable (5.24+) or gradient_checkpointing_enable."""
    from transformers import AutoModelForCausalLM

    from tuning import models
    from tuning.recipe import Lora

    model = AutoModelForCausalLM.from_pretrained(tiny_causal, dtype=torch.bfloat16)
    model = models.add_lora(model, Lora(), [], quantized=True, gradient_checkpointing=True, sharded="fsdp")
    base = model.get_base_model()
    on = getattr(base, "is_activation_checkpointing", None)
    assert on if on is not None else base.is_gradient_checkpointing
