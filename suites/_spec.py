"""The suite file format: one validated YAML document per suite.

A suite is data plus a small function. The YAML names the dataset, the prompt (Jinja2), the
suite type (how documents become requests and scores) and the metrics; ``process_docs`` names
the one function (``module:function`` in ``suites/``) that turns raw records into documents.
``include: base.yaml`` merges a shared base, as in lm-eval.
"""

from __future__ import annotations

import hashlib
import inspect
import importlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import ConfigError


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="file or folder relative to the data root")
    format: str = Field("jsonl", description="jsonl | json | csv | conll | text")
    hub: str | None = Field(None, description="hub dataset id, for users with a network and no local copy")
    fewshot_path: str | None = Field(None, description="file/folder of few-shot examples (e.g. MMLU dev)")
    extra: dict[str, str] = Field(default_factory=dict, description="other files the suite reads (e.g. test ids)")


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    family: str = Field(description="medical_qa | ner | general | perplexity | ...")
    type: str = Field(description="suite type: multiple_choice | perplexity | ner | ...")
    description: str = ""
    data: DataSpec
    process_docs: str = Field(description="module:function turning raw records into documents")
    doc_to_text: str | None = Field(None, description="Jinja2 prompt template over a document's fields")
    description_template: str | None = Field(None, description="Jinja2 preamble before the few-shot examples")
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    num_fewshot: int = 0
    fewshot_sampler: str = Field("first", description="first | random (seeded)")
    options: dict[str, Any] = Field(default_factory=dict, description="suite options, overridable with --option")
    metrics: list[str] = Field(default_factory=lambda: ["acc"])
    splits: dict[str, str] = Field(default_factory=dict, description="other splits of the source (leakage audit)")


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a suite file must be a mapping")
    return data


def load_spec(path: Path) -> tuple[SuiteSpec, list[Path]]:
    """Parse and validate a suite file (following ``include``); returns the spec and every file read."""
    raw = _load_yaml(path)
    files = [path]
    if "include" in raw:
        base_path = path.parent / raw.pop("include")
        if not base_path.exists():
            raise ConfigError(f"{path}: field 'include' names {base_path.name}, which does not exist")
        base, base_files = _raw_with_includes(base_path)
        files += base_files
        raw = _merge(base, raw)
    try:
        return SuiteSpec.model_validate(raw), files
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        what = "is required" if err["type"] == "missing" else ("is not a known field" if err["type"] == "extra_forbidden" else err["msg"])
        raise ConfigError(f"{path}: field '{field}' {what}") from None


def _raw_with_includes(path: Path) -> tuple[dict, list[Path]]:
    raw = _load_yaml(path)
    files = [path]
    if "include" in raw:
        base, more = _raw_with_includes(path.parent / raw.pop("include"))
        raw, files = _merge(base, raw), files + more
    return raw, files


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def resolve_function(spec: SuiteSpec, where: Path, attr: str = "process_docs"):
    target = getattr(spec, attr)
    module_name, _, fn_name = target.partition(":")
    try:
        module = importlib.import_module(f"suites.{module_name}")
        return getattr(module, fn_name)
    except (ImportError, AttributeError):
        raise ConfigError(f"{where}: field '{attr}' names {target}, which is not a function in suites/") from None


def version_hash(files: list[Path], functions: list) -> str:
    """sha256 over the suite files and the source of the functions it uses: changes => new version."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    for fn in functions:
        h.update(inspect.getsource(inspect.getmodule(fn)).encode())
    return h.hexdigest()[:16]
