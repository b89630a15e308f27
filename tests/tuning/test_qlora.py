"""QLoRA on CPU: bitsandbytes' 4-bit layers train through the Trainer's validation passes, any shape."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.tiny_models import TEXT

LM = {"data__files": ["corpus/bio.txt"], "data__limit": 40, "data__eval_size": 4, "data__format": "text"}


def test_4bit_layers_keep_their_gradient_through_a_validation_pass(tiny_causal_4bit):
    """bnb repacks a Linear4bit for its AVX512-BF16 CPU kernel on the first eval-mode, no-grad forward;
    that kernel has no autograd, so later training steps lost the gradient through every 4-bit layer."""
    import torch

    from harness.models import resolve
    from tuning import models
    from tuning.recipe import Lora

    ref = resolve(str(tiny_causal_4bit))
    tok, _ = models.load_tokenizer(ref, [])
    model = models.load_causal(ref, tok, torch.float32, "cpu", quantize=True, merge_adapter=False)
    assert len(models.keep_4bit_trainable(model)) == 14
    model = models.add_lora(model, Lora(dropout=0.0, target_modules=["q_proj", "v_proj"]), [], quantized=True)
    ids = torch.tensor([tok.encode(TEXT[0])])

    def grads():
        model.train()
        model.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    before = grads()
    model.eval()
    with torch.no_grad():
        model(input_ids=ids)  # what Trainer.evaluate does between training steps
    after = grads()
    assert before.keys() == after.keys() and any("layers.0" in n for n in before)
    assert all(torch.allclose(before[n], after[n]) for n in before)


def test_qlora_runs_its_validation_on_layers_of_any_shape(tiny_causal, tune_recipe):
    """hidden 32: bnb's CPU repack needed in_features % 64 == 0 and crashed at the first evaluation."""
    out = tune_recipe("demo_lora_smollm2", tiny_causal, method="qlora", name="q32", **LM)
    assert out.lineage["adapter"] == "qlora-nf4" and out.lineage["quantised_layers"] == 14
    assert [r["eval_loss"] for r in out.curves if r["eval_loss"] is not None]


def test_no_layer_to_quantise_is_a_clear_error():
    import torch

    from harness.errors import ConfigError
    from tuning.models import keep_4bit_trainable

    with pytest.raises(ConfigError, match="no Linear layer of the model was quantised"):
        keep_4bit_trainable(torch.nn.Sequential(torch.nn.Linear(4, 4)))


def test_bitsandbytes_imports_without_the_optional_kernel_warning():
    """``Failed to load CPU gemm_4bit_forward from kernels-community`` is noise a user cannot act on."""
    code = "from tuning.models import import_bitsandbytes; import_bitsandbytes()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gemm_4bit_forward" not in done.stderr + done.stdout
