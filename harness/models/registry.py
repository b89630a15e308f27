"""Resolve what a user typed (``--variant X``) to a model reference, and load a backend for it.

Resolution order: a variant registered in the results DB, a built-in name, a local directory
(a full HF checkpoint, or a peft adapter whose base is resolved in turn), then a hub id.
Backends are registered BY NAME in one lazy registry (``"module:Class"`` strings imported only
when used) and chosen with ``--backend NAME``; by default the model kind picks one
(``causal`` -> ``hf-causal``, ``encoder`` -> ``hf-encoder``). Register your own with
``register_backend("my-backend", "my_package.module:MyBackend")``: the class is called as
``MyBackend(ref, device=..., dtype=..., batch_size=...)`` and answers the request kinds of
``harness.contract`` it ``supports``. A backend that needs no model files (like ``mock``) defines
a classmethod ``resolve_ref(spec, name)`` and skips resolution.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import MedtuneError
from harness.models.builtin import BUILTINS, builtin_path
from harness.registry import Registry

# One lazy registry of backends, by name.
BACKENDS = Registry("backend", {
    "hf-causal": "harness.models.hf_causal:HFCausalLM",
    "hf-encoder": "harness.models.hf_encoder:HFTokenClassifier",
    "mock": "harness.models.mock:MockLM",
    "vllm": "harness.models.vllm:VLLMCausalLM",  # optional extra medtune[vllm]; CUDA only
})
# The backend a model kind gets when none is chosen.
DEFAULT_BACKENDS = {"causal": "hf-causal", "encoder": "hf-encoder"}


def register_backend(name: str, target, *, replace: bool = False) -> None:
    """Make ``--backend NAME`` (and ``backend=NAME`` in the Python API) load ``target``.

    ``target`` is ``"module:Class"`` (imported on first use) or the class itself. The class is
    constructed as ``Class(ref, device=, dtype=, batch_size=)`` with a ``ModelRef``, must set
    ``info`` (a ``harness.contract.ModelInfo``), ``device`` and ``batch_size``, and implement
    ``supports(kind)`` and a method per request kind it supports (see ``harness.contract``).
    """
    BACKENDS.register(name, target, replace=replace)


def check_backend(name: str | None) -> str | None:
    """``name`` is a registered backend (or None: chosen from the model kind); else a MedtuneError."""
    if name is not None and name not in BACKENDS:
        raise MedtuneError(f"--backend {name}: unknown backend; known: {', '.join(BACKENDS.names())}")
    return name


def backend_name(ref: "ModelRef", backend: str | None = None) -> str:
    """The backend that loads ``ref``: the one asked for, else the default for its model kind."""
    if backend is not None:
        return check_backend(backend)
    name = DEFAULT_BACKENDS.get(ref.kind)
    if name is None:
        raise MedtuneError(f"no backend for model kind {ref.kind!r}; choose one with --backend ({', '.join(BACKENDS.names())})")
    return name


@dataclass
class ModelRef:
    """A resolved model: where its weights are and how to load them."""

    name: str  # the variant name results are recorded under
    path: str  # HF directory or hub id of the full model (the base, for an adapter)
    kind: str  # causal | encoder
    adapter: str | None = None  # peft adapter directory, applied on top of ``path``
    trust_remote_code: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def location(self) -> str:
        return self.adapter or self.path


def _kind_from_config(config: dict) -> str:
    archs = " ".join(config.get("architectures") or [])
    if "CausalLM" in archs or "LMHeadModel" in archs:
        return "causal"
    if config.get("model_type") in {"bert", "roberta", "distilbert", "deberta", "deberta-v2", "electra"}:
        return "encoder"
    if "ForTokenClassification" in archs or "ForMaskedLM" in archs:
        return "encoder"
    return "causal" if config.get("is_decoder") else "encoder"


def _from_directory(name: str, directory: Path, trust_remote_code: bool, store=None) -> ModelRef:
    adapter_cfg = directory / "adapter_config.json"
    if adapter_cfg.exists():
        base_id = json.loads(adapter_cfg.read_text()).get("base_model_name_or_path")
        if not base_id:
            raise MedtuneError(f"{adapter_cfg}: field base_model_name_or_path is missing; cannot find the adapter's base")
        base = resolve(base_id, store=store, trust_remote_code=trust_remote_code)
        return ModelRef(name, base.path, base.kind, adapter=str(directory), trust_remote_code=trust_remote_code)
    config = directory / "config.json"
    if not config.exists():
        raise MedtuneError(f"{directory} is neither a HF model directory (config.json) nor a peft adapter (adapter_config.json)")
    return ModelRef(name, str(directory), _kind_from_config(json.loads(config.read_text())), trust_remote_code=trust_remote_code)


def resolve(spec: str, store=None, trust_remote_code: bool = False, name: str | None = None,
            backend: str | None = None) -> ModelRef:
    """Turn a variant name, built-in name, directory, adapter directory or hub id into a ModelRef
    (a ``backend`` with its own ``resolve_ref``, e.g. ``mock``, resolves the name itself)."""
    if backend is not None:
        resolver = getattr(BACKENDS.get(check_backend(backend)), "resolve_ref", None)
        if resolver is not None:
            return resolver(spec, name)
    if store is not None:
        from harness.store.variants import get_variant

        row = get_variant(store, spec)
        if row is not None and row["path"] and row["path"] != spec:
            ref = resolve(row["path"], store=store, trust_remote_code=trust_remote_code)
            ref.name = name or spec
            return ref
    if spec in BUILTINS:
        return ModelRef(name or spec, str(builtin_path(spec)), BUILTINS[spec].kind, trust_remote_code=trust_remote_code)
    local = Path(spec).expanduser()
    if local.is_dir():
        return _from_directory(name or local.resolve().name, local.resolve(), trust_remote_code, store)
    if local.exists() or spec.startswith((".", "/", "~")):
        raise MedtuneError(f"model path {spec} is not a directory holding a HF model or a peft adapter")
    if spec.count("/") == 1 and not os.environ.get("HF_HUB_OFFLINE"):
        return _from_hub(spec, name or spec, trust_remote_code)
    known = ", ".join(BUILTINS)
    raise MedtuneError(
        f"unknown model {spec!r}: not a registered variant, a built-in ({known}), a local directory, "
        "or a hub id reachable now (hub ids look like org/name and need a network)"
    )


def _from_hub(spec: str, name: str, trust_remote_code: bool) -> ModelRef:
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(spec, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    except Exception as exc:  # offline, no such repo, gated...
        raise MedtuneError(f"unknown model {spec!r}: not local and the hub did not serve it ({type(exc).__name__})") from exc
    return _from_directory(name, Path(local), trust_remote_code)


def load(ref: ModelRef, device: str = "auto", dtype: str = "auto", batch_size: int | str = "auto",
         backend: str | None = None, **kwargs):
    """Load ``ref`` with the named backend, or the default one for its kind (imports it only now)."""
    cls = BACKENDS.get(backend_name(ref, backend))
    return cls(ref, device=device, dtype=dtype, batch_size=batch_size, **kwargs)


def list_models(store=None) -> list[dict]:
    rows = [{"name": b.name, "kind": b.kind, "source": f"PyPI {b.package}", "description": b.description} for b in BUILTINS.values()]
    if store is not None:
        from harness.store.variants import list_variants

        for v in list_variants(store):
            rows.append({"name": v["name"], "kind": v["kind"], "source": v["path"], "description": f"variant ({v['method']}) of {v['parent'] or '-'}"})
    return rows
