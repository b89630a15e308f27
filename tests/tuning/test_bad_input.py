"""Bad input fails before any training step with one clear line; nothing is registered."""

from __future__ import annotations

import sys

import pytest

from harness.errors import ConfigError, MedtuneError
from harness.store import Store
from harness.store.variants import list_variants
from tests.harness.clihelp import run_cli

LM = {"data__files": ["corpus/bio.txt"], "data__limit": 40, "data__eval_size": 4}


def nothing_registered(tmp_path):
    db = tmp_path / "results.duckdb"
    return not db.exists() or not list_variants(Store(db))


def test_unknown_key_and_missing_corpus_exit_2_via_cli(capsys, tmp_path, tiny_causal, tiny_data):
    base = ["--set", f"base={tiny_causal}", "--db", str(tmp_path / "results.duckdb"), "--data-root", str(tiny_data)]
    code, _, err = run_cli(capsys, "tune", "demo_dapt_smollm2", "--set", "train.lrate=1", *base)
    assert code == 2 and "demo_dapt_smollm2.yaml: unknown key 'train.lrate'" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "tune", "demo_dapt_smollm2", "--set", "data.files=[corpus/nope.txt]", *base)
    assert code == 2 and "corpus/nope.txt not found" in err.replace("\n", "")
    assert nothing_registered(tmp_path)


def test_lora_target_not_in_model_lists_the_available_ones(tmp_path, tiny_causal, tune_recipe):
    with pytest.raises(ConfigError, match=r"lora\.target_modules: query not in the model; Linear modules available: "
                                          r"down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj"):
        tune_recipe("demo_lora_smollm2", tiny_causal, lora__target_modules=["q_proj", "query"], **LM)
    assert nothing_registered(tmp_path)


def test_qlora_without_working_bitsandbytes_fails_before_training(tmp_path, tiny_causal, tune_recipe, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import fails as when the library cannot load
    with pytest.raises(ConfigError, match="method qlora: bitsandbytes cannot run on cpu here"):
        tune_recipe("demo_lora_smollm2", tiny_causal, method="qlora", **LM)
    assert nothing_registered(tmp_path) and not (tmp_path / "variants" / "demo_lora_smollm2" / "checkpoints").exists()


def test_replaying_a_forgetting_eval_set_is_refused(tmp_path, tiny_causal, tune_recipe):
    with pytest.raises(ConfigError, match="eval set of the forgetting suite"):
        tune_recipe("demo_dapt_smollm2", tiny_causal, data__replay={"file": "general/wikitext2_test.raw"}, **LM)


def test_canaries_without_the_leakage_module_is_a_clear_error(tmp_path, tiny_causal, tune_recipe, monkeypatch):
    monkeypatch.setitem(sys.modules, "tuning.canaries", None)
    with pytest.raises(MedtuneError, match="data.canaries needs tuning.canaries.plant_canaries"):
        tune_recipe("demo_dapt_smollm2", tiny_causal, data__canaries={"count": 2}, **LM)
