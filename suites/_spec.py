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

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.config import YamlDoc, format_loc, load_yaml, validate
from harness.errors import ConfigError
from harness.registry import import_target
from suites._hub import HubSpec
from suites._mapping import DEFAULT_PROMPT, DocsMapping
from suites._types import get_type

SUITES_DIR = Path(__file__).parent


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | list[str] = Field(description="file or folder relative to the data root, or an absolute path; a "
                                  "docs: mapping also takes a glob (golden/*.json) or a list of files and globs, "
                                  "whose records it reads in order (process_docs functions get it as written)")
    format: str = Field("jsonl", description="jsonl | json | csv | tsv | parquet | conll | text "
                        "(a docs: mapping reads it from the suffix when not given; .gz/.zst are decompressed)")
    hub: str | HubSpec | None = Field(None, description="hub dataset (id, or {id, config, split, revision}) read "
                                      "when the local file is missing")
    records: str | None = Field(None, description="json: dotted key path of the records in the document")
    where: dict[str, Any] = Field(default_factory=dict, description="keep the records whose field equals the value "
                                  "(a list: any of them)")
    fewshot_path: str | None = Field(None, description="file/folder of few-shot examples (e.g. MMLU dev)")
    extra: dict[str, str] = Field(default_factory=dict, description="other files the suite reads (e.g. test ids)")

    @field_validator("path")
    @classmethod
    def _some_path(cls, value):
        entries = [value] if isinstance(value, str) else value
        if not entries or any(not e.strip() for e in entries):
            raise ValueError("expected a file, folder or glob (or a non-empty list of them), not an empty one")
        return value

    @model_validator(mode="after")
    def _hub_needs_one_file(self):
        if self.hub is not None and not isinstance(self.path, str):
            raise ValueError("data.hub stands in for one local file: give data.path as a single file")
        return self

    @property
    def paths(self) -> list[str]:
        """``path`` as a list (one entry when it is a single file, folder or glob)."""
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def shown(self) -> str:
        """``path`` as one line of text (tables, messages)."""
        return ", ".join(self.paths)


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
    num_fewshot: int = Field(0, ge=0, description="few-shot examples before each question (at most the pool holds)")
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
    type_cls = get_type(spec.type)
    if type_cls is None:
        raise chain.error(("type",), f"is {spec.type!r}, not a known suite type")
    if spec.docs is None and spec.process_docs is None:
        raise chain.error(("process_docs",), "is required (or a docs: mapping of record fields)")
    _check_metrics(spec, chain, type_cls)
    _check_templates(spec, chain)
    if spec.docs is not None and spec.doc_to_text is None and spec.type == "multiple_choice":
        spec.doc_to_text = DEFAULT_PROMPT
    setter = next((d for d in chain.docs if "process_docs" in d.data), None)
    spec._functions_dir = setter.path.parent if setter else None
    fn = resolve_function(spec, chain.where(("process_docs",)))
    files = [doc.path for doc in chain.docs]
    source = getattr(fn, "__file__", None) or getattr(sys.modules.get(fn.__module__), "__file__", None)
    if spec.docs is None and source and not Path(source).resolve().is_relative_to(SUITES_DIR.resolve()):
        # a user's .py: its bytes are part of the version, and so are those of every other .py in its folder (the
        # helpers it may import: an edit there changes the documents as surely as an edit of the file itself)
        files.append(Path(source))
        files += sorted(p for p in Path(source).parent.glob("*.py") if p.is_file() and p != Path(source))
    return spec, files


def _check_metrics(spec: SuiteSpec, chain: "_Chain", type_cls) -> None:
    """``metrics:`` names at least one metric, each one the suite type reports (a name it does not would be
    scored as nothing, silently)."""
    declared = type_cls.metrics
    names = declared.names()
    if not spec.metrics:
        raise chain.error(("metrics",), f"is an empty list: name at least one metric (type {spec.type} reports "
                                        f"{', '.join(names) or 'its own'})")
    if not names:
        return  # a type that declares nothing: its per-sample scores are its metrics
    extra = set()  # a generative suite's `evaluate` modules report metrics of their own names
    entries = spec.options.get("evaluate")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            extra.add(entry.get("name") or entry.get("key") or Path(str(entry.get("module", ""))).stem)
    for i, name in enumerate(spec.metrics):
        if declared.get(name) is None and name not in extra:
            raise chain.error(("metrics", i), f"is {name!r}, which suite type {spec.type} does not report "
                                              f"(it reports: {', '.join(names)})")


def _check_templates(spec: SuiteSpec, chain: "_Chain") -> None:
    """Every Jinja template of the suite compiles (a syntax error names the file:line of the field)."""
    import jinja2

    env = jinja2.Environment()
    fields = [(("doc_to_text",), spec.doc_to_text), (("description_template",), spec.description_template)]
    if spec.docs is not None:
        m = spec.docs
        fields += [(("docs", key), getattr(m, key)) for key in ("id", "question", "context", "gold")]
        if isinstance(m.choices, list):
            fields += [(("docs", "choices", i), c) for i, c in enumerate(m.choices)]
        elif isinstance(m.choices, str):
            fields.append((("docs", "choices"), m.choices))
        fields += [(("docs", "fields", k), v) for k, v in m.fields.items()]
    for loc, template in fields:
        if not isinstance(template, str) or ("{{" not in template and "{%" not in template and "{#" not in template):
            continue
        try:
            env.parse(template)
        except jinja2.TemplateSyntaxError as exc:
            raise chain.error(loc, f"is not a valid Jinja template ({exc.message}, line {exc.lineno} of the "
                                   f"template {_short(template)})") from None


def _short(text: str) -> str:
    text = repr(text)
    return text if len(text) <= 80 else text[:77] + "..."


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
