"""Sharded tuning set up before the weights load: DeepSpeed ZeRO-3 (each rank creates only its shard) and
QLoRA under FSDP / ZeRO-3 (4-bit weights stored as bf16, one dtype for every weight; impossible settings refused).

No GPU and no DeepSpeed here: the launcher's environment (what ``accelerate launch --config_file
tuning/accelerate/deepspeed_zero3.yaml`` / ``fsdp2.yaml`` sets) is set by hand, sharding is decided as on a GPU
while the run stays on the CPU, and the model loader is replaced by a probe that stops the run once it has seen
what it came for.
"""

from __future__ import annotations

import json

import pytest
import torch

from harness.errors import ConfigError

ZERO3_ENV = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
             "ACCELERATE_DEEPSPEED_ZERO3_INIT": "true", "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "1"}
FSDP_ENV = {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}
LM = {"data__files": ["corpus/bio.txt"], "data__limit": 40, "data__eval_size": 4, "data__format": "text"}


class Loaded(Exception):
    """Raised by the probe loader: the run stops there."""


@pytest.fixture()
def as_on_a_gpu(monkeypatch):
    """Sharding decided as on a CUDA device (on the CPU accelerate runs FSDP / DeepSpeed configs as DDP, so
    medtune shards nothing there: see test_zero2_and_cpu_runs_are_not_sharded); the run itself stays on the CPU."""
    from tuning import models

    real = models.sharding
    monkeypatch.setattr(models, "sharding", lambda train, device: real(train, "cuda:0"))


@pytest.fixture()
def deepspeed_plugin_without_deepspeed(monkeypatch):
    """accelerate's DeepSpeedPlugin as TrainingArguments builds it from the launcher's environment, but its
    HfDeepSpeedConfig (which needs the deepspeed package) replaced by a stand-in registered the same way."""
    from accelerate.utils import DeepSpeedPlugin
    from transformers.integrations import deepspeed as hf_ds

    if _has_deepspeed():
        yield
        return

    class Config:
        def __init__(self, config):
            self.config = config
            hf_ds.set_hf_deepspeed_config(self)  # the weak reference from_pretrained consults

        def is_zero3(self):
            return (self.config.get("zero_optimization") or {}).get("stage") == 3

    monkeypatch.setattr(DeepSpeedPlugin, "set_deepspeed_weakref",
                        lambda self: setattr(self, "dschf", Config(self.deepspeed_config)))
    yield
    hf_ds.unset_hf_deepspeed_config()


def _has_deepspeed() -> bool:
    import importlib.util

    return importlib.util.find_spec("deepspeed") is not None


def _probe_loader(monkeypatch, name: str) -> dict:
    """``tuning.models.<name>`` records whether ZeRO-3 is live when it is called, then stops the run."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    from tuning import models

    seen = {}

    def probe(*args, **kwargs):
        seen["zero3"] = is_deepspeed_zero3_enabled()
        seen["kwargs"] = kwargs
        raise Loaded

    monkeypatch.setattr(models, name, probe)
    return seen


@pytest.mark.parametrize("method, loader", [("full", "load_causal"), ("lora", "load_causal")])
def test_zero3_is_live_when_the_model_loads(tiny_causal, tune_recipe, monkeypatch, as_on_a_gpu,
                                            deepspeed_plugin_without_deepspeed, method, loader):
    """TrainingArguments (and so the DeepSpeed config, zero3_init_flag) exist BEFORE from_pretrained, so the
    model is created under deepspeed.zero.Init: each rank holds a shard, never the whole model."""
    for key, value in ZERO3_ENV.items():
        monkeypatch.setenv(key, value)
    seen = _probe_loader(monkeypatch, loader)
    with pytest.raises(Loaded):
        tune_recipe("demo_lora_smollm2" if method == "lora" else "demo_dapt_smollm2", tiny_causal, method=method,
                    name=f"z3-{method}", train__device="cpu", train__dtype="float32", **LM)
    assert seen["zero3"] is True


def test_without_deepspeed_nothing_is_built_early(tiny_causal, tune_recipe, monkeypatch):
    from tuning.train import early_training_arguments  # noqa: F401  (the hook exists)

    seen = _probe_loader(monkeypatch, "load_causal")
    with pytest.raises(Loaded):
        tune_recipe("demo_dapt_smollm2", tiny_causal, name="plain", **LM)
    assert seen["zero3"] is False


def test_zero2_and_cpu_runs_are_not_sharded(monkeypatch, tmp_path):
    from tuning.models import deepspeed_stage, sharding
    from tuning.recipe import Train

    for key, value in {**ZERO3_ENV, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}.items():
        monkeypatch.setenv(key, value)
    assert deepspeed_stage({}) == 2 and sharding(Train(), "cuda:0") is None
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert sharding(Train(), "cuda:0") == "zero3" and sharding(Train(), "cpu") is None  # CPU: accelerate runs DDP
    for key in ZERO3_ENV:
        monkeypatch.delenv(key)
    config = tmp_path / "ds.json"
    config.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    assert deepspeed_stage({"deepspeed": str(config)}) == 3 and deepspeed_stage({}) is None


@pytest.mark.skipif(not _has_deepspeed(), reason="deepspeed is not installed here")
def test_zero3_with_the_real_deepspeed_config(tiny_causal, tune_recipe, monkeypatch, as_on_a_gpu):
    for key, value in ZERO3_ENV.items():
        monkeypatch.setenv(key, value)
    seen = _probe_loader(monkeypatch, "load_causal")
    with pytest.raises(Loaded):
        tune_recipe("demo_dapt_smollm2", tiny_causal, name="z3-real", train__device="cpu", train__dtype="float32", **LM)
    assert seen["zero3"] is True


# -- QLoRA sharded over the ranks --------------------------------------------------------------------------
@pytest.mark.parametrize("env, kind", [(FSDP_ENV, "fsdp"), (ZERO3_ENV, "zero3")])
def test_sharded_qlora_stores_its_4bit_weights_as_bf16(tiny_causal, tune_recipe, monkeypatch, as_on_a_gpu,
                                                        deepspeed_plugin_without_deepspeed, env, kind):
    """What the QLoRA method asks from_pretrained for under FSDP / ZeRO-3 (bitsandbytes is not run: the
    loader is probed; check_bitsandbytes would need CUDA kernels)."""
    from tuning import models

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(models, "check_bitsandbytes", lambda device: None)
    from transformers import AutoModelForCausalLM

    seen = {}

    def from_pretrained(path, **kwargs):
        seen.update(kwargs)
        raise Loaded

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_pretrained)
    with pytest.raises(Loaded):
        tune_recipe("demo_lora_smollm2", tiny_causal, method="qlora", name=f"q-{kind}", train__device="cpu",
                    train__dtype="bfloat16", **LM)
    q = seen["quantization_config"]
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4"
    assert q.bnb_4bit_quant_storage == torch.bfloat16 and q.bnb_4bit_compute_dtype == torch.bfloat16
    assert seen["dtype"] == torch.bfloat16  # every other weight in the storage dtype
    assert ("device_map" in seen) == (kind == "fsdp")  # transformers refuses a device_map under ZeRO-3


def test_unsharded_qlora_keeps_the_default_storage():
    from tuning.models import qlora_quantization

    q = qlora_quantization(torch.float32)
    assert q.bnb_4bit_quant_storage == torch.uint8 and q.bnb_4bit_compute_dtype == torch.float32


def test_sharded_qlora_in_float32_is_refused_naming_the_field(tiny_causal, tune_recipe, monkeypatch, as_on_a_gpu):
    for key, value in FSDP_ENV.items():
        monkeypatch.setenv(key, value)
    seen = _probe_loader(monkeypatch, "load_causal")
    with pytest.raises(ConfigError, match=r"^train\.dtype float32: method qlora under FSDP needs bfloat16") as err:
        tune_recipe("demo_lora_smollm2", tiny_causal, method="qlora", name="q32", train__device="cpu",
                    train__dtype="float32", **LM)
    assert "\n" not in str(err.value) and not seen  # one line, before any weight is read


def test_fsdp_on_the_cpu_is_plain_qlora(monkeypatch):
    """accelerate runs an FSDP config as DDP on the CPU: nothing is sharded, nothing refused."""
    from tuning.models import check_qlora_sharding
    from tuning.recipe import Train

    for key, value in FSDP_ENV.items():
        monkeypatch.setenv(key, value)
    assert check_qlora_sharding(Train(dtype="float32"), "cpu", torch.float32) is None
    assert check_qlora_sharding(Train(trainer_args={}), "cuda:1", torch.bfloat16) == "fsdp"


def test_sharded_lora_layers_keep_one_dtype(tiny_causal_4bit):
    """add_lora for sharded QLoRA: no fp32 upcast of norms, embeddings or adapters beside the bf16 storage."""
    from harness.models import resolve
    from tuning import models
    from tuning.recipe import Lora

    ref = resolve(str(tiny_causal_4bit))
    tok, _ = models.load_tokenizer(ref, [])
    model = models.load_causal(ref, tok, torch.bfloat16, "cpu", quantize=True, merge_adapter=False, sharded="fsdp")
    storage = {p.dtype for n, p in model.named_parameters() if type(p).__name__ == "Params4bit"}
    assert storage == {torch.bfloat16}
    model = models.add_lora(model, Lora(target_modules=["q_proj", "v_proj"]), [], quantized=True, sharded="fsdp")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
