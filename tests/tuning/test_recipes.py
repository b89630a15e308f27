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
