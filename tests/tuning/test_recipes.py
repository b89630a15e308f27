"""Every shipped recipe validates; bad recipe input is named with its file."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from tuning.recipe import RECIPES_DIR, load_recipe, parse_sets

SHIPPED = sorted(RECIPES_DIR.glob("*.yaml"))


def test_recipes_are_shipped():
    assert {"demo_dapt_smollm2", "demo_lora_smollm2"} <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.output_path().name == recipe.name


def test_set_overrides_dotted_keys_parsed_as_yaml():
    recipe = load_recipe("demo_lora_smollm2", parse_sets(["train.lr=1e-3", "lora.target_modules=[q_proj, k_proj]",
                                                          "data.replay.ratio=0.25"]))
    assert recipe.train.lr == 1e-3 and recipe.lora.target_modules == ["q_proj", "k_proj"]
    assert recipe.data.replay.file == "self" and recipe.data.replay.ratio == 0.25


def test_unknown_key_is_named_with_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((RECIPES_DIR / "demo_dapt_smollm2.yaml").read_text().replace("  lr:", "  learning_rat: 1\n  lr:"))
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'train\.learning_rat'"):
        load_recipe(bad)


@pytest.mark.parametrize("sets, message", [
    (["method=sgd"], "unknown method 'sgd'"),
    (["train.batch=0"], "field 'train.batch'"),
    (["data.format=pubmed"], "field 'data.format'"),
    (["data.files=[]"], "needs at least one file"),
    (["nonsense=1"], "unknown key 'nonsense'"),
    (["train.lr"], "expected key=value"),
])
def test_bad_values_name_the_field(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe("demo_dapt_smollm2", parse_sets(sets))


def test_unknown_recipe_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="demo_dapt_smollm2"):
        load_recipe("no_such_recipe")


@pytest.mark.parametrize("text, message", [
    ("name: x\nmethod: dapt\ntrain:\n  lr: 1\n  lr: 2\n", r"bad\.yaml:5: invalid YAML \(duplicate key 'lr' \(first on line 4\)\)"),
    ("name: x\nmethod: dapt\ntrain: [lr: 1\n", r"bad\.yaml:4: invalid YAML"),
    ("name: x\nmethod: dapt\nbase: b\ndata:\n  files: [a.txt]\ntrain:\n  lr: .inf\n",
     r"bad\.yaml:7: field 'train\.lr': Input should be a finite number$"),
    ("name: x\nmethod: dapt\nbase: b\ndata:\n  files: [a.txt]\ntrain:\n  lrate: 1\n",
     r"bad\.yaml: unknown key 'train\.lrate' \(line 7\)$"),
])
def test_recipe_file_errors_name_file_and_line(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_recipe(bad)


def test_a_bad_set_value_is_named_as_given_with_set():
    with pytest.raises(ConfigError, match=r"demo_dapt_smollm2\.yaml: field 'train\.max_steps': .* \(given with --set\)$"):
        load_recipe("demo_dapt_smollm2", parse_sets(["train.max_steps=0"]))


def test_accepted_schedulers_are_transformers_schedulers_that_need_no_kwargs():
    import torch
    from transformers import SchedulerType, get_scheduler

    from tuning.recipe import SCHEDULERS

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    runs = []
    for kind in SchedulerType:
        try:
            get_scheduler(kind.value, opt, num_warmup_steps=1, num_training_steps=10)
            runs.append(kind.value)
        except (TypeError, ValueError):  # needs lr_scheduler_kwargs, which recipes do not pass
            pass
    assert sorted(SCHEDULERS) == sorted(runs)
