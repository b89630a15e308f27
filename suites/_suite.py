"""A loaded suite: its validated spec, version hash, documents and prompt rendering."""

from __future__ import annotations

import random
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
        docs = self.process_docs(data_root, spec, dict(self.options, split=split))
        for doc in docs:
            if "id" not in doc:
                raise ConfigError(f"{self.path}: process_docs returned a document without an 'id'")
        return docs

    def docs(self, data_root: Path | None = None, limit: int | None = None) -> list[dict]:
        """The documents to score (the first ``limit``), from ``data_root`` or the suite's own ``data_root``."""
        if data_root is None:
            data_root = self.data_root
        if data_root is None:
            raise MedtuneError(f"suite {self.name}: no data root (pass load_suite(..., data_root=...))")
        docs = self.load_docs(data_root)
        if not docs:
            raise MedtuneError(f"suite {self.name}: no documents in {self.spec.data.path}")
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
        return self.process_docs(root, self.spec, dict(self.options, split=split))

    def fewshot_examples(self, doc: dict) -> list[dict]:
        pool = [d for d in self._fewshot_pool if d["id"] != doc["id"] and d.get("group") == doc.get("group")]
        if self.spec.fewshot_sampler == "random":
            rng = random.Random(f"{self.seed}-{doc['id']}")
            return rng.sample(pool, min(self.num_fewshot, len(pool)))
        return pool[: self.num_fewshot]

    # -- prompts -------------------------------------------------------------------------
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
