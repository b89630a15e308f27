"""Hub datasets: a suite's ``data.hub`` stands in for its local file when that file is missing.

``data.hub`` is a dataset id (``hub: GBaker/MedQA-USMLE-4-options``) or a mapping
``{id, config, split, revision}``; it is read with ``datasets.load_dataset`` (cached under
``<medtune cache>/hub``), so a folder in the hub layout (``data/test-00000-of-00001.parquet``)
or a ``save_to_disk`` folder works as an id too, offline. When the dataset cannot be loaded the
error names the local path tried and the hub id.

A ``docs:`` mapping suite reads the hub records directly; a ``process_docs`` suite whose format
is jsonl reads a JSONL copy written under the cache (``materialise``), so the function that reads
the published file reads the hub copy the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import MedtuneError


class HubSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="hub dataset id (or a local folder in the hub layout)")
    config: str | None = Field(None, description="dataset configuration (subset) name")
    split: str = Field("test", description="split to score")
    revision: str | None = Field(None, description="git revision (branch, tag or commit) of the dataset")


def hub_spec(value) -> HubSpec | None:
    """``data.hub`` as given: None, an id string, or a mapping already validated."""
    if value is None or isinstance(value, HubSpec):
        return value
    return HubSpec(id=value)


def _describe(hub: HubSpec) -> str:
    extra = [f"{k}={v}" for k, v in (("config", hub.config), ("split", hub.split), ("revision", hub.revision)) if v]
    return f"{hub.id} ({', '.join(extra)})"


def load_records(hub: HubSpec, tried: Path, suite: str) -> list[dict]:
    """The split's rows as dicts; any failure is one line naming the local path and the hub id."""
    from harness.settings import cache_dir

    try:
        import datasets

        datasets.disable_progress_bars()
        ds = datasets.load_dataset(hub.id, hub.config, split=hub.split, revision=hub.revision,
                                   cache_dir=str(cache_dir() / "hub" / "datasets"))
        return [dict(row) for row in ds]
    except Exception as exc:  # ConnectionError (offline), DatasetNotFoundError, ValueError (bad split), ...
        offline = " (offline: HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set)" if _offline() else ""
        reason = " ".join(str(exc).split())[:300]
        raise MedtuneError(f"suite {suite}: data file {tried} not found, and the hub dataset {_describe(hub)} "
                           f"could not be loaded{offline}: {type(exc).__name__}: {reason}") from None


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def materialise(hub: HubSpec, tried: Path, suite: str) -> Path:
    """A JSONL copy of the hub split under the cache (written once, atomically); its path."""
    from harness.settings import cache_dir

    key = hashlib.sha256(json.dumps(hub.model_dump(), sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "hub" / "jsonl" / f"{key}.jsonl"
    if path.exists():
        return path
    rows = load_records(hub, tried, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def fingerprint(spec, data_root: Path | None) -> str | None:
    """A content hash of what the suite reads from the hub, for run keys; None when it reads its local
    file (or has no ``data.hub``). A ``process_docs`` suite reads the cached JSONL copy: its bytes are
    hashed; a ``docs:`` mapping suite reads the split itself each time: its rows are hashed."""
    hub = hub_spec(spec.data.hub)
    if hub is None or data_root is None:
        return None
    tried = Path(data_root) / spec.data.path
    if tried.exists():
        return None
    h = hashlib.sha256(json.dumps(hub.model_dump(), sort_keys=True).encode())
    if spec.docs is None:
        if spec.data.format != "jsonl":
            return None  # the suite cannot read the hub at all (with_hub_fallback says so)
        with open(materialise(hub, tried, spec.name), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    else:
        for row in load_records(hub, tried, spec.name):
            h.update(json.dumps(row, sort_keys=True, default=str).encode() + b"\n")
    return h.hexdigest()[:16]


def with_hub_fallback(spec, data_root: Path):
    """``spec``, or a copy whose ``data.path`` is the hub copy when the local file is missing (a
    ``process_docs`` suite in jsonl format with ``data.hub``). Other suites are returned as they are:
    their own reader names the missing file (a mapping suite reads the hub itself)."""
    hub = hub_spec(spec.data.hub)
    if hub is None or spec.docs is not None or data_root is None:
        return spec
    tried = Path(data_root) / spec.data.path
    if tried.exists():
        return spec
    if spec.data.format != "jsonl":
        raise MedtuneError(f"suite {spec.name}: data file {tried} not found; its hub dataset {hub.id} can stand in "
                           f"only for a jsonl file or a suite with a docs: mapping (this one reads {spec.data.format})")
    copy = materialise(hub, tried, spec.name)
    return spec.model_copy(update={"data": spec.data.model_copy(update={"path": str(copy)})})
