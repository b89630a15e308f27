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


@pytest.mark.parametrize("sets, message", [
    (["train.scheduler=cosinee"], "field 'train.scheduler': Input should be 'linear', 'cosine'"),
    (["train.device=tpu"], "field 'train.device': 'tpu' is not a device: expected auto, cpu, cuda, cuda:N or mps"),
    (["train.lr=.inf"], "field 'train.lr': Input should be a finite number"),
    (["train.lr=.nan"], "field 'train.lr': Input should be a finite number"),
    (["train.epochs=.inf"], "field 'train.epochs': Input should be a finite number"),
    (["train.max_steps=0"], "field 'train.max_steps': must be -1 (run the epochs) or at least 1, not 0"),
    (["train.batch=0"], "field 'train.batch': Input should be greater than or equal to 1"),
    (["train.epochs=-1"], "field 'train.epochs': Input should be greater than 0"),
    (["train.weight_decay=-0.1"], "field 'train.weight_decay': Input should be greater than or equal to 0"),
    (["data.eval_size=60"], "data.eval_size 60 holds out 60 of the 60 records, leaving none to train on"),
    (["data.eval_size=0.999"], "data.eval_size 0.999 holds out 60 of the 60 records"),
])
def test_bad_training_values_exit_2_before_the_model_loads(capsys, tmp_path, tiny_causal, tiny_data, monkeypatch,
                                                           sets, message):
    import tuning.models

    monkeypatch.setattr(tuning.models, "load_causal", lambda *a, **k: pytest.fail("the model was loaded"))
    base = ["base=" + str(tiny_causal), "data.files=[corpus/bio.txt]", "data.limit=60", f"output_dir={tmp_path / 'out'}"]
    code, _, err = run_cli(capsys, "tune", "demo_dapt_smollm2", *[a for s in base + sets for a in ("--set", s)],
                           "--db", str(tmp_path / "results.duckdb"), "--data-root", str(tiny_data))
    assert code == 2 and message in err.replace("\n", "") and "Traceback" not in err, err
    assert nothing_registered(tmp_path) and not (tmp_path / "out").exists()


def test_a_recipe_file_that_is_not_utf8_exits_2_with_its_line(capsys, tmp_path, tiny_data):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\nmethod: dapt\ndescription: caf\xe9\n")
    code, _, err = run_cli(capsys, "tune", str(bad), "--db", str(tmp_path / "results.duckdb"), "--data-root", str(tiny_data))
    assert code == 2 and "bad.yaml:3: not valid UTF-8" in err.replace("\n", "") and "Traceback" not in err
    assert nothing_registered(tmp_path)
