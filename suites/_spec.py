"""The suite file format: one validated YAML document per suite.

A suite is data plus a small function. The YAML names the dataset, the prompt (Jinja2), the
suite type (how documents become requests and scores) and the metrics; ``process_docs`` names
the one function (``module:function`` in ``suites/``) that turns raw records into documents.
``include: base.yaml`` merges a shared base, as in lm-eval.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.config import YamlDoc, format_loc, load_yaml, validate
from harness.errors import ConfigError
from harness.registry import import_target
from suites._types import get_type


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


def load_spec(path: Path) -> tuple[SuiteSpec, list[Path]]:
    """Parse and validate a suite file (following ``include``); returns the spec and every file read.

    Errors name the file and line that set the field (the suite file or a base it includes)."""
    chain = _Chain(_read_with_includes(Path(path), []))
    spec = validate(SuiteSpec, chain)
    if get_type(spec.type) is None:
        raise chain.error(("type",), f"is {spec.type!r}, not a known suite type")
    resolve_function(spec, chain.where(("process_docs",)))
    return spec, [doc.path for doc in chain.docs]


def _read_with_includes(path: Path, chain: list[YamlDoc]) -> list[YamlDoc]:
    """The file and the bases it includes, the file first (its fields win)."""
    doc = load_yaml(path, "suite file")
    chain = chain + [doc]
    if "include" not in doc.data:
        return chain
    name = doc.data.pop("include")
    where = f"{path}{doc.line(('include',))}: field 'include'"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} is {name!r}, expected a file name (e.g. _mc_base.yaml)")
    base = path.parent / name
    if not base.is_file():
        raise ConfigError(f"{where} names {name}, which does not exist")
    if any(base.resolve() == d.path.resolve() for d in chain):
        raise ConfigError(f"{where} names {name}, which includes this file again (an include loop)")
    return _read_with_includes(base, chain)


class _Chain:
    """A suite file and its bases as one mapping, for ``harness.config.validate``; an error names
    the file and line where the field is set (or where it belongs, if it is missing)."""

    def __init__(self, docs: list[YamlDoc]):
        self.docs = docs
        self.data: dict = {}
        for doc in reversed(docs):
            self.data = _merge(self.data, doc.data)

    def where(self, loc: tuple) -> str:
        """``file:line`` of the deepest part of ``loc`` any file sets (the including file first)."""
        doc = max(self.docs, key=lambda d: _depth(d.data, loc))  # max keeps the first of equals
        depth = _depth(doc.data, loc)
        return f"{doc.path}{doc.line(loc[:depth]) if depth else ''}"

    def error(self, loc: tuple, message: str) -> ConfigError:
        message = "is not a known field" if message == "unknown key" else message
        sep = " " if message.startswith("is ") else ": "  # pydantic's own messages follow a colon
        return ConfigError(f"{self.where(loc)}: field '{format_loc(loc)}'{sep}{message}")


def _depth(data, loc: tuple) -> int:
    """How many leading parts of ``loc`` exist in ``data``."""
    for i, key in enumerate(loc):
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return i
    return len(loc)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def resolve_function(spec: SuiteSpec, where: Path | str, attr: str = "process_docs"):
    target = getattr(spec, attr)
    try:
        fn = import_target(f"suites.{target}")
        if callable(fn):
            return fn
    except (ImportError, AttributeError, ValueError, TypeError):
        pass
    raise ConfigError(f"{where}: field '{attr}' names {target}, which is not a function in suites/")


def version_hash(files: list[Path], functions: list) -> str:
    """sha256 over the suite files and the source of the functions it uses: changes => new version."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    for fn in functions:
        h.update(inspect.getsource(inspect.getmodule(fn)).encode())
    return h.hexdigest()[:16]
