import json

import pytest

from harness.errors import MedtuneError
from harness.models import load, resolve


def test_resolve_directory_and_kind(tiny_causal, tiny_encoder):
    ref = resolve(str(tiny_causal))
    assert ref.kind == "causal" and ref.name == "tiny-llama" and ref.adapter is None
    assert resolve(str(tiny_encoder)).kind == "encoder"


def test_resolve_peft_adapter_finds_its_base(tiny_causal, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_causal),
                           LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    model.save_pretrained(tmp_path / "adapter")
    ref = resolve(str(tmp_path / "adapter"))
    assert ref.adapter == str(tmp_path / "adapter") and ref.path == str(tiny_causal)
    lm = load(ref, batch_size=2)
    assert lm.info.extra["adapter"] == ref.adapter


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(MedtuneError, match="unknown model 'no-such-model'"):
        resolve("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MedtuneError, match="neither a HF model directory"):
        resolve(str(tmp_path / "empty"))
    (tmp_path / "ad").mkdir()
    (tmp_path / "ad/adapter_config.json").write_text(json.dumps({"r": 2}))
    with pytest.raises(MedtuneError, match="base_model_name_or_path is missing"):
        resolve(str(tmp_path / "ad"))


def test_builtin_encoder_ships_in_its_package():
    ref = resolve("minilm-l6")
    assert ref.kind == "encoder" and ref.path.endswith("model")
