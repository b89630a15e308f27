"""A loaded suite: its validated spec, version hash, documents and prompt rendering."""

from __future__ import annotations

import inspect
import random
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from harness.errors import ConfigError, MedtuneError
from suites._chat import CHAT_OPTIONS
from suites._spec import SuiteSpec, resolve_function, version_hash
from suites._types import get_type

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


class Suite:
    def __init__(self, spec: SuiteSpec, path: Path, files: list[Path], options: dict[str, Any] | None = None,
                 num_fewshot: int | None = None, seed: int = 1234, data_root: Path | None = None):
        self.spec, self.path = spec, path
        #: where the suite's data lives: documents, few-shot examples and (NER) the label set are read
        #: from here. Given to ``load_suite(..., data_root=)``, or set by the first ``docs(data_root)``.
        self.data_root = Path(data_root) if data_root is not None else None
        unknown = set(options or {}) - set(spec.options) - set(CHAT_OPTIONS)  # chat options: every suite
        if unknown:
            known = ", ".join(sorted(spec.options)) or "none"
            raise MedtuneError(f"suite {spec.name}: unknown option {sorted(unknown)[0]!r} (options: {known})")
        self.options = {**spec.options, **(options or {})}
        self.num_fewshot = spec.num_fewshot if num_fewshot is None else num_fewshot
        self.seed = seed
        self.process_docs = resolve_function(spec, path)
        type_cls = get_type(spec.type)
        if type_cls is None:
            raise ConfigError(f"{path}: field 'type' is {spec.type!r}, not a known suite type")
        self.type = type_cls(self)
        self.version = version_hash(files, [self.process_docs, type_cls])
        self._templates = {}
        self.chat = None  # the model's chat template, bound at run time when option chat_template is on (suites._chat)

    @property
    def name(self) -> str:
        return self.spec.name

    def settings(self) -> dict:
        """What, besides the suite version, changes this suite's results (part of the cache key)."""
        return {"options": self.options, "num_fewshot": self.num_fewshot, "seed": self.seed}

    # -- documents -----------------------------------------------------------------------
    def load_docs(self, data_root: Path, split: str = "eval") -> list[dict]:
        from suites._hub import with_hub_fallback  # data.hub stands in for a missing local file

        spec = with_hub_fallback(self.spec, data_root) if split in ("eval", "test") else self.spec
        return self._call_process_docs(data_root, spec, split)

    def _function_label(self) -> str:
        """``file.py:function`` of the process_docs function (what an error about its result names)."""
        fn = self.process_docs
        try:
            source = inspect.getsourcefile(fn) or "?"
        except TypeError:
            source = "?"
        return f"{source}:{getattr(fn, '__name__', fn)}"

    def _call_process_docs(self, data_root: Path, spec, split: str) -> list[dict]:
        """The documents of ``split`` from the process_docs function (or the docs: mapping), checked: a
        function that raises, exits, returns something other than a list of documents, documents
        without an id (or, for the suite type, without what it scores), or two documents with one id
        is a one-line error naming the suite file and the function, never a traceback or a wrong score."""
        label = (f"{self.path}: the docs: mapping" if self.spec.docs is not None
                 else f"{self.path}: process_docs {self._function_label()}")
        try:
            docs = self.process_docs(data_root, spec, dict(self.options, split=split))
        except MedtuneError:
            raise  # the readers' own file:line errors
        except SystemExit as exc:
            raise ConfigError(f"{label} called sys.exit({exc.code!r}) instead of returning documents "
                              "(raise an exception with a message instead)") from None
        except Exception as exc:  # any bug or data surprise in the user's function
            raise ConfigError(f"{label} raised {type(exc).__name__}: {_one_line(exc)}{_where_raised(exc, self.process_docs)}") from None
        if not isinstance(docs, list):
            raise ConfigError(f"{label} returned {_kind(docs)}, expected a list of documents (dicts)")
        seen: dict[str, int] = {}
        check = getattr(self.type, "check_document", None)
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                raise ConfigError(f"{label} returned {_kind(doc)} as document {i}, expected a dict")
            if doc.get("id") is None:
                raise ConfigError(f"{label} returned document {i} without an 'id' (it has: {', '.join(map(str, doc)) or 'no keys'})")
            key = str(doc["id"])
            if key in seen:
                raise ConfigError(f"{label} returned documents {seen[key]} and {i} with the same id {key!r}: every "
                                  "document needs its own id (samples are stored and paired by it)")
            seen[key] = i
            if check is not None:
                problem = check(doc)
                if problem:
                    raise ConfigError(f"{label} returned document {i} (id {key!r}) {problem}")
        return docs

    def docs(self, data_root: Path | None = None, limit: int | None = None) -> list[dict]:
        """The documents to score (the first ``limit``), from ``data_root`` or the suite's own ``data_root``."""
        if data_root is None:
            data_root = self.data_root
        if data_root is None:
            raise MedtuneError(f"suite {self.name}: no data root (pass load_suite(..., data_root=...))")
        docs = self.load_docs(data_root)
        if not docs:
            raise MedtuneError(f"suite {self.name}: no documents in {getattr(self.spec.data, 'shown', self.spec.data.path)}")
        if self.data_root is None:
            self.data_root = Path(data_root)
        return docs[:limit] if limit else docs

    @cached_property
    def _fewshot_pool(self) -> list[dict]:
        if not self.num_fewshot:
            return []
        root = self.data_root
        if root is None:
            raise MedtuneError(f"suite {self.name}: no data root to read few-shot examples from "
                               "(pass load_suite(..., data_root=...))")
        split = "fewshot" if self.spec.data.fewshot_path else "eval"
        return self._call_process_docs(root, self.spec, split)

    def fewshot_shortfall(self, docs: list[dict]) -> tuple[int, dict] | None:
        """``(available, doc)`` for the document with the fewest few-shot examples, when that is fewer than
        ``num_fewshot`` (the pool: other documents of the same group); None when every document gets them all."""
        if not self.num_fewshot:
            return None
        groups: dict = {}
        for d in self._fewshot_pool:
            ids = groups.setdefault(d.get("group"), set())
            ids.add(d["id"])
        worst = None
        for doc in docs:
            ids = groups.get(doc.get("group"), set())
            available = len(ids) - (doc["id"] in ids)
            if available < self.num_fewshot and (worst is None or available < worst[0]):
                worst = (available, doc)
        return worst

    def fewshot_examples(self, doc: dict) -> list[dict]:
        pool = [d for d in self._fewshot_pool if d["id"] != doc["id"] and d.get("group") == doc.get("group")]
        if self.spec.fewshot_sampler == "random":
            rng = random.Random(f"{self.seed}-{doc['id']}")
            return rng.sample(pool, min(self.num_fewshot, len(pool)))
        return pool[: self.num_fewshot]

    # -- prompts -------------------------------------------------------------------------
    def prompt_warnings(self, docs: list[dict]) -> list[str]:
        """Prompts that are probably not what the suite's author meant: the default prompt of a ``docs:``
        mapping adds ``Question: ... Answer:`` around questions that are already formatted prompts."""
        from suites._mapping import DEFAULT_PROMPT

        if self.spec.docs is None or self.spec.doc_to_text != DEFAULT_PROMPT:
            return []
        cue = re.compile(r"(answer|a)\s*:\s*$", re.I)
        doubled = [d for d in docs if isinstance(d.get("question"), str) and cue.search(d["question"])]
        if not doubled:
            return []
        tail = self.prompt(doubled[0])[-60:]
        return [f"suite {self.name}: {len(doubled)} of {len(docs)} questions already end with an answer cue, and the "
                f"default prompt adds 'Answer:' again (...{tail!r}); set doc_to_text: \"{{{{ question }}}}\" in "
                f"{self.path.name} to use them as they are"]


    def render(self, template: str | None, doc: dict, field: str) -> str:
        if template is None:
            return ""
        compiled = self._templates.get(template)
        if compiled is None:
            compiled = self._templates[template] = _JINJA.from_string(template)
        try:
            return compiled.render(**self.options, **doc)
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"{self.path}: field '{field}' uses {exc.message}") from None

    def prompt(self, doc: dict) -> str:
        """Preamble + few-shot examples (each with its gold answer) + the document's question."""
        if self.chat is not None:  # the same parts as chat messages (suites._chat)
            return self.chat.prompt(self, doc)
        parts = []
        for ex in self.fewshot_examples(doc) if self.num_fewshot else []:
            parts.append(self.render(self.spec.doc_to_text, ex, "doc_to_text") + self.type.target_text(ex))
        parts.append(self.render(self.spec.doc_to_text, doc, "doc_to_text"))
        preamble = self.render(self.spec.description_template, doc, "description_template")
        return preamble + self.spec.fewshot_delimiter.join(parts)


def _kind(value) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "...") if len(text) > 300 else (text or "(no message)")


def _where_raised(exc: BaseException, fn) -> str:
    """`` (at file.py:LINE)``: the last frame of the traceback in the function's own file."""
    try:
        source = inspect.getsourcefile(fn)
    except TypeError:
        return ""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == source:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" (at {Path(source).name}:{line})" if line else ""
