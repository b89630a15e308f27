"""``train.trainer_args``: further TrainingArguments through one validated recipe field."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError

RECIPE = """name: x
method: dapt
base: /nowhere
data:
  files: [corpus/bio.txt]
train:
  lr: 1.0e-4
  trainer_args:
    activation_checkpointing: true
{extra}"""


def write(tmp_path, extra=""):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(extra=extra))
    return path


def test_unknown_key_is_a_file_line_error_with_a_suggestion(tmp_path):
    from tuning.recipe import load_recipe

    path = write(tmp_path, "    activation_checkpoint: true\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    assert f"{path}:10:" in str(err.value) and "train.trainer_args.activation_checkpoint" in str(err.value)
    assert "did you mean 'activation_checkpointing'" in str(err.value)


@pytest.mark.parametrize("key,field", [("learning_rate", "train.lr"), ("per_device_train_batch_size", "train.batch"),
                                       ("output_dir", "output_dir"), ("report_to", None)])
def test_keys_medtune_sets_are_refused(tmp_path, key, field):
    from tuning.recipe import load_recipe

    path = write(tmp_path, f"    {key}: 1\n")
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    assert f"{path}:10:" in str(err.value) and f"{key} is set by medtune" in str(err.value)
    assert (f"from {field}" in str(err.value)) == (field is not None)


def test_passed_to_training_arguments_and_bad_values_refused(tmp_path):
    from tuning.outcome import TuneContext
    from tuning.recipe import load_recipe
    from tuning.train import training_arguments

    import torch

    spec = load_recipe(write(tmp_path), {"train.trainer_args.optim": "adafactor", "train.trainer_args.bf16": False})
    ctx = TuneContext(store=None, data_root=tmp_path, output=tmp_path / "out")
    args = training_arguments(spec, ctx, "cpu", torch.float32)
    from tuning.recipe import trainer_arg_name

    # transformers < 5.24 calls it gradient_checkpointing: the recipe's 5.24 name reaches it under the installed name
    assert getattr(args, trainer_arg_name("activation_checkpointing")) is True and args.optim == "adafactor" and args.learning_rate == 1e-4
    bad = load_recipe(write(tmp_path), {"train.trainer_args.optim": "no-such-optimizer"})
    with pytest.raises(ConfigError, match="train.trainer_args .*refused"):
        training_arguments(bad, ctx, "cpu", torch.float32)
