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


QUANTIZE = ("4bit", "8bit")


def big_model_options(device: str, dtype, quantize: str | None = None, device_map: str | None = None) -> dict:
    """``from_pretrained`` keywords for a model bigger than one device: ``device_map="auto"`` (layers spread
    over the visible GPUs, then CPU RAM, by accelerate) and/or 4/8-bit weights (bitsandbytes). A device that
    cannot do it is a MedtuneError before any weight is read."""
    kwargs: dict = {}
    if device_map is not None:
        if device_map != "auto":
            raise MedtuneError(f"--device-map {device_map}: expected auto")
        if not device.startswith("cuda"):
            raise MedtuneError(f"--device-map auto spreads the layers over CUDA GPUs; the device here is {device} "
                               "(no CUDA device): leave --device-map out, or use --load-in-4bit to fit the model")
        kwargs["device_map"] = "auto"
    if quantize is not None:
        if quantize not in QUANTIZE:
            raise MedtuneError(f"--load-in-{quantize}: expected 4bit or 8bit")
        if device == "mps":
            raise MedtuneError(f"--load-in-{quantize}: bitsandbytes has no kernels for Apple MPS; use --device cpu")
        check_bitsandbytes(device, quantize)
        import torch
        from transformers import BitsAndBytesConfig

        compute = dtype if dtype in (torch.bfloat16, torch.float16) else torch.float32
        kwargs["quantization_config"] = (
            BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute)
            if quantize == "4bit" else BitsAndBytesConfig(load_in_8bit=True))
        kwargs.setdefault("device_map", {"": device})  # weights are quantised as they land on the device
    return kwargs


def check_bitsandbytes(device: str, quantize: str) -> None:
    """One tiny quantised layer on ``device``: a missing library or kernel is one clear error."""
    try:
        import logging

        logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
        import bitsandbytes as bnb
        import torch

        layer = (bnb.nn.Linear4bit(64, 64, bias=False, quant_type="nf4", compute_dtype=torch.float32)
                 if quantize == "4bit" else bnb.nn.Linear8bitLt(64, 64, bias=False, has_fp16_weights=False))
        layer = layer.to(device)
        layer(torch.randn(2, 64, device=device))
    except Exception as exc:  # ImportError, no native library, no kernel for this device
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise MedtuneError(f"--load-in-{quantize}: bitsandbytes cannot run on {device} here "
                           f"({type(exc).__name__}: {first})") from None


def load_model(ref, model_cls, device: str, dtype, tokenizer=None, **kwargs):
    """``model_cls.from_pretrained`` + the adapter, if any; embeddings resized to the tokenizer. With a
    ``device_map`` (``big_model_options``) the weights are placed while loading and not moved after."""
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
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    return model


def unwrap(model):
    """The transformers model under a peft wrapper (LoRA layers are injected in place)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
