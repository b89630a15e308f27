"""Loading HF checkpoints and peft adapters safely (safetensors only, no remote code unless asked)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import MedtuneError


DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")


def check_device(device) -> str:
    """``auto | cpu | cuda | cuda:N | mps``, and the accelerator asked for is present (torch imported only then)."""
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
        raise MedtuneError(f"--device {device}: expected auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise MedtuneError(f"--device {device}: no CUDA device is available here (use --device cpu or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise MedtuneError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here (cuda:0 ...)")
    if device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise MedtuneError("--device mps: no Apple MPS device is available here (use --device cpu or auto)")
    return device


def check_dtype(dtype) -> str:
    if dtype not in DTYPES:
        raise MedtuneError(f"--dtype {dtype}: expected one of {', '.join(DTYPES)}")
    return dtype


def pick_device(device: str) -> str:
    import torch

    check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def pick_dtype(dtype: str, device: str):
    import torch

    check_dtype(dtype)
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    return table[dtype]


def load_tokenizer(ref):
    from transformers import AutoTokenizer

    source = ref.adapter if ref.adapter and (Path(ref.adapter) / "tokenizer_config.json").exists() else ref.path
    return AutoTokenizer.from_pretrained(source, trust_remote_code=ref.trust_remote_code)


def load_model(ref, model_cls, device: str, dtype, tokenizer=None, **kwargs):
    """``model_cls.from_pretrained`` + the adapter, if any; embeddings resized to the tokenizer."""
    try:
        model = model_cls.from_pretrained(ref.path, dtype=dtype, use_safetensors=True,
                                          trust_remote_code=ref.trust_remote_code, **kwargs)
    except OSError as exc:
        raise MedtuneError(f"cannot load model from {ref.path}: {str(exc).splitlines()[0]}") from None
    if ref.adapter:
        from peft import PeftModel

        if tokenizer is not None and len(tokenizer) != model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        model = PeftModel.from_pretrained(model, ref.adapter)
    model.to(device)
    model.eval()
    return model


def unwrap(model):
    """The transformers model under a peft wrapper (LoRA layers are injected in place)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
