"""The suite file format: one validated YAML document per suite.

A suite is data plus a small function. The YAML names the dataset, the prompt (Jinja2), the
suite type (how documents become requests and scores) and the metrics; ``process_docs`` names
the one function that turns raw records into documents: ``module:function`` in ``suites/``, or
``file.py:function`` for a ``.py`` file beside the YAML (a user's suite folder). A ``docs:``
mapping (suites/_mapping.py) does that without code. ``include: base.yaml`` merges a shared base,
as in lm-eval: found beside the including file, else among the shipped bases.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from harness.config import YamlDoc, format_loc, load_yaml, validate
from harness.errors import ConfigError
from harness.registry import import_target
from suites._hub import HubSpec
from suites._mapping import DEFAULT_PROMPT, DocsMapping
from suites._types import get_type

SUITES_DIR = Path(__file__).parent


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="file or folder relative to the data root, or an absolute path")
    format: str = Field("jsonl", description="jsonl | json | csv | tsv | parquet | conll | text "
                        "(a docs: mapping reads it from the suffix when not given; .gz/.zst are decompressed)")
    hub: str | HubSpec | None = Field(None, description="hub dataset (id, or {id, config, split, revision}) read "
                                      "when the local file is missing")
    records: str | None = Field(None, description="json: dotted key path of the records in the document")
    where: dict[str, Any] = Field(default_factory=dict, description="keep the records whose field equals the value "
                                  "(a list: any of them)")
    fewshot_path: str | None = Field(None, description="file/folder of few-shot examples (e.g. MMLU dev)")
    extra: dict[str, str] = Field(default_factory=dict, description="other files the suite reads (e.g. test ids)")


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    family: str = Field(description="medical_qa | ner | general | perplexity | ...")
    type: str = Field(description="suite type: multiple_choice | perplexity | ner | ...")
    description: str = ""
    data: DataSpec
    process_docs: str | None = Field(None, description="module:function (or file.py:function beside the YAML) "
                                     "turning raw records into documents")
    docs: DocsMapping | None = Field(None, description="records -> documents without code (suites/_mapping.py)")
    doc_to_text: str | None = Field(None, description="Jinja2 prompt template over a document's fields")
    description_template: str | None = Field(None, description="Jinja2 preamble before the few-shot examples")
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    num_fewshot: int = 0
    fewshot_sampler: str = Field("first", description="first | random (seeded)")
    options: dict[str, Any] = Field(default_factory=dict, description="suite options, overridable with --option")
    metrics: list[str] = Field(default_factory=lambda: ["acc"])
    splits: dict[str, str] = Field(default_factory=dict, description="other splits of the source (leakage audit)")
    #: the folder of the file that set ``process_docs`` (where a ``file.py:function`` lives)
    _functions_dir: Path | None = PrivateAttr(None)


def load_spec(path: Path) -> tuple[SuiteSpec, list[Path]]:
    """Parse and validate a suite file (following ``include``); returns the spec and every file read.

    Errors name the file and line that set the field (the suite file or a base it includes)."""
    chain = _Chain(_read_with_includes(Path(path), []))
    spec = validate(SuiteSpec, chain)
    if get_type(spec.type) is None:
        raise chain.error(("type",), f"is {spec.type!r}, not a known suite type")
    if spec.docs is None and spec.process_docs is None:
        raise chain.error(("process_docs",), "is required (or a docs: mapping of record fields)")
    if spec.docs is not None and spec.doc_to_text is None and spec.type == "multiple_choice":
        spec.doc_to_text = DEFAULT_PROMPT
    setter = next((d for d in chain.docs if "process_docs" in d.data), None)
    spec._functions_dir = setter.path.parent if setter else None
    fn = resolve_function(spec, chain.where(("process_docs",)))
    files = [doc.path for doc in chain.docs]
    source = getattr(fn, "__file__", None) or getattr(sys.modules.get(fn.__module__), "__file__", None)
    if spec.docs is None and source and not Path(source).resolve().is_relative_to(SUITES_DIR.resolve()):
        files.append(Path(source))  # a user's .py: its bytes are part of the version
    return spec, files


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
        shipped = sorted(SUITES_DIR.rglob(name)) if "/" not in name else []
        if len(shipped) != 1:
            bases = ", ".join(sorted(p.name for p in SUITES_DIR.rglob("_*.yaml")))
            raise ConfigError(f"{where} names {name}, which does not exist in {path.parent} nor among the shipped bases ({bases})")
        base = shipped[0]
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
    if attr == "process_docs" and spec.docs is not None:
        from suites._mapping import mapped_docs

        return mapped_docs
    target = getattr(spec, attr)
    file, sep, name = str(target).partition(".py:")
    if sep:
        return _file_function(Path(file + ".py"), name, spec._functions_dir, where, attr, target)
    try:
        fn = import_target(f"suites.{target}")
        if callable(fn):
            return fn
    except (ImportError, AttributeError, ValueError, TypeError):
        pass
    raise ConfigError(f"{where}: field '{attr}' names {target}, which is not a function in suites/ "
                      "(a function in a .py beside the suite file is file.py:function)")


_USER_MODULES: dict[tuple, object] = {}


def _file_function(file: Path, name: str, folder: Path | None, where, attr: str, target: str):
    """``function`` of the ``.py`` file beside the suite YAML (loaded once per file version)."""
    path = file if file.is_absolute() else (folder or Path.cwd()) / file
    problem = None
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        module = _USER_MODULES.get(key)
        if module is None:
            mod_name = f"medtune_user_suite_{hashlib.sha256(key[0].encode()).hexdigest()[:12]}_{path.stem}"
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module  # inspect.getsource (the version hash) finds it there
            try:
                loader_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
            _USER_MODULES[key] = module
    except FileNotFoundError:
        problem = f"{path} does not exist"
    except SyntaxError as exc:
        problem = f"{exc.filename}:{exc.lineno}: invalid Python ({exc.msg})"
    except Exception as exc:  # an import error or any failure while the file runs
        problem = f"{path} cannot be imported ({type(exc).__name__}: {' '.join(str(exc).split())})"
    if problem is None:
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
        problem = f"{path} has no function {name!r}"
    raise ConfigError(f"{where}: field '{attr}' names {target}: {problem}")


def version_hash(files: list[Path], functions: list) -> str:
    """sha256 over the suite files and the source of the functions it uses: changes => new version."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    for fn in functions:
        h.update(inspect.getsource(inspect.getmodule(fn)).encode())
    return h.hexdigest()[:16]
