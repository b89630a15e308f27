"""The ``docs:`` mapping: records -> documents without code.

A suite YAML with a ``docs:`` block instead of ``process_docs`` names, for each document field,
the record field it comes from (a dotted name reaches into nested objects) or a Jinja template
over the record (any value holding ``{{`` or ``{%``)::

    docs:
      id: qid                       # default: <file>:<line>
      question: question
      context: abstract             # optional; the default prompt puts it before the question
      choices: [opa, opb, opc, opd] # fields (or templates), one per option (empty last ones are no
                                    # option: 4- and 5-option rows in one file); or one field
                                    # holding a list or an {A: text, B: text} object
      fixed_choices: [yes, no, maybe]   # the same options for every record (instead of choices)
      gold: answer
      gold_format: letter           # index (0-based, default) | one_based | letter (A, B, ...) | text
      fields: {subject: subject}    # more document fields, for the prompt template

Records come from ``data.path`` in any format of suites/_records.py (or ``data.hub`` when the
file is missing), the ones ``data.where`` keeps. Every error names the file and line of the
record and the field. CoNLL files (``format: conll``) are sentences (words, tags): their
``docs:`` block may give ``labels`` (the allowed tag set) and ``columns``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import jinja2
from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.errors import DataError, MedtuneError
from suites._data import expand_data_paths, json_type, require_choices, require_index
from suites._records import FORMATS, file_format, keep, read_records

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: the prompt of a mapped multiple-choice suite without its own ``doc_to_text``
DEFAULT_PROMPT = "{% if context %}{{ context }}\n{% endif %}Question: {{ question }}\nAnswer:"

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


class DocsMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, description="record field (or template) giving the document id")
    question: str | None = Field(None, description="record field or Jinja template: the question")
    context: str | None = Field(None, description="record field or template: a passage shown before the question")
    choices: list[str] | str | None = Field(None, description="fields/templates of the options, or one field holding them")
    fixed_choices: list[str] | None = Field(None, description="the same option texts for every record")
    gold: str | None = Field(None, description="record field (or template) of the answer")
    gold_format: Literal["index", "one_based", "letter", "text"] = "index"
    fields: dict[str, str] = Field(default_factory=dict, description="more document fields: name -> field or template")
    labels: list[str] | None = Field(None, description="conll: the allowed tag set (any other tag is an error)")
    columns: int = Field(2, ge=2, description="conll: tab-separated fields a line (token first, tag last)")

    @field_validator("fixed_choices", mode="before")
    @classmethod
    def _yes_no(cls, value):
        """YAML reads an unquoted yes/no as a boolean: ``[yes, no, maybe]`` means the words."""
        if isinstance(value, list):
            return ["yes" if v is True else "no" if v is False else v for v in value]
        return value


def mapped_docs(root: Path, spec, options: dict) -> list[dict]:
    """The ``process_docs`` of a suite with a ``docs:`` mapping."""
    split = options.get("split", "eval")
    if split == "fewshot" and spec.data.fewshot_path:
        entries = [spec.data.fewshot_path]
    elif split in ("eval", "fewshot", "test"):
        entries = spec.data.paths  # a file, a glob or a list of them (data.path)
    elif split in spec.splits:
        entries = [spec.splits[split]]
    else:
        raise MedtuneError(f"suite {spec.name}: no split {split!r} (splits: {', '.join(['eval', *spec.splits])})")
    m: DocsMapping = spec.docs
    docs, ids = [], {}
    for path in expand_data_paths(Path(root), entries):
        for doc, line, where in _file_docs(path, spec, m, root, len(entries) == 1 and entries[0] == spec.data.path):
            if doc["id"] in ids:
                first_where, first_line = ids[doc["id"]]
                other = f"line {first_line}" if first_where == where else f"{first_where}:{first_line}"
                raise DataError(where, line, f"id {doc['id']!r} repeats the record at {other}")
            ids[doc["id"]] = (where, line)
            docs.append(doc)
    return docs


def _file_docs(path: Path, spec, m: "DocsMapping", root, hub_ok: bool):
    """(document, line, where) for each record of one data file kept by ``data.where``."""
    fmt = file_format(path, spec.data.format if "format" in spec.data.model_fields_set else None)
    if fmt not in FORMATS:
        raise MedtuneError(f"suite {spec.name}: data.format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "conll":
        return [(doc, int(doc["id"].rsplit(":", 1)[1]), path) for doc in _conll_docs(path, m, spec.name)]
    if path.exists():
        rows, where = read_records(path, fmt, spec.data.records), path
    elif spec.data.hub is not None and hub_ok:
        from suites._hub import hub_spec, load_records

        hub = hub_spec(spec.data.hub)
        rows, where = enumerate(load_records(hub, path, spec.name), 1), f"hub:{hub.id}[{hub.split}]"
    else:
        raise MedtuneError(f"suite {spec.name}: data file {path} not found (data.path {spec.data.shown} is relative "
                           f"to the data root {root}, or absolute)")
    rows = list(rows)
    total = len(rows)
    if spec.data.where:
        rows = list(keep(rows, spec.data.where, where))
        if not rows:
            raise DataError(where, None, f"data.where {spec.data.where} keeps none of the {total} records")
    return [(_document(m, rec, line, where), line, where) for line, rec in rows]


def _document(m: DocsMapping, rec: dict, line: int | None, where) -> dict:
    doc = {k: v for k, v in rec.items() if isinstance(v, (str, int, float, bool)) and not k.startswith("_")}
    name = Path(str(where)).name
    doc["id"] = str(_value(rec, m.id, "id", line, where)) if m.id else f"{name}:{line}"
    if m.question is not None:
        doc["question"] = _text(rec, m.question, "question", line, where)
    doc["context"] = _text(rec, m.context, "context", line, where) if m.context is not None else ""
    for key, source in m.fields.items():
        doc[key] = _value(rec, source, key, line, where)
    labels = None
    if m.fixed_choices is not None:
        choices = list(m.fixed_choices)
    elif isinstance(m.choices, list):
        choices = [_value(rec, c, c, line, where, blank_ok=True) for c in m.choices]
        while len(choices) > 2 and (choices[-1] is None or (isinstance(choices[-1], str) and not choices[-1].strip())):
            choices.pop()  # a record with fewer options leaves the last fields empty (a 4-option row of a 5-option exam)
    elif m.choices is not None:
        held = _value(rec, m.choices, m.choices, line, where)
        if isinstance(held, dict):
            labels = list(held)
            choices = [held[k] for k in labels]
        elif isinstance(held, list):
            choices = held
        else:
            raise DataError(where, line, f"field {m.choices!r} is {json_type(held)}, expected a list of options "
                                         "or an object {label: option}")
    else:
        choices = None
    if choices is not None:
        field = m.choices if isinstance(m.choices, str) else "choices"
        doc["choices"] = [c.strip() for c in require_choices(choices, field, where, line, names=labels)]
        if m.gold is not None:
            doc["gold"] = _gold(m, rec, doc["choices"], labels, line, where)
    return doc


def _gold(m: DocsMapping, rec: dict, choices: list[str], labels: list[str] | None, line, where) -> int:
    n = len(choices)
    value = _value(rec, m.gold, m.gold, line, where)
    field = m.gold
    if m.gold_format == "index":
        try:
            return require_index({field: value}, field, where, line, n)
        except DataError as exc:  # name the key that fixes it: an answer given as text or as a letter
            text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
            names = labels or list(LETTERS[:n])
            if text and any(text.casefold() == c.casefold() for c in choices):
                hint = "the option text itself: set docs.gold_format: text"
            elif text and any(text.upper() == str(x).upper() for x in names):
                hint = "an option letter: set docs.gold_format: letter"
            elif text.isdigit() and int(text) == n:
                hint = "1-based: set docs.gold_format: one_based"
            else:
                hint = "docs.gold_format is index (0-based); the others are one_based, letter and text"
            prefix = f"{where}:{line}: " if line is not None else f"{where}: "
            raise DataError(where, line, f"{str(exc).removeprefix(prefix)} ({hint})") from None
    if m.gold_format == "one_based":
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= n):
            raise DataError(where, line, f"field {field!r} is {value!r}, expected 1..{n} (the 1-based correct option)")
        return int(text) - 1
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if m.gold_format == "letter":
        names = labels or list(LETTERS[:n])
        if text is not None:
            for i, name in enumerate(names):
                if text.upper() == str(name).upper():
                    return i
        raise DataError(where, line, f"field {field!r} is {value!r}, expected one of {', '.join(map(str, names))}")
    if text is not None:
        for same in (lambda a, b: a == b, lambda a, b: a.casefold() == b.casefold()):
            hits = [i for i, c in enumerate(choices) if same(c, text)]
            if hits:
                return hits[0]
    raise DataError(where, line, f"field {field!r} is {value!r}, not one of the options: {', '.join(choices)}")


def _is_template(source: str) -> bool:
    return "{{" in source or "{%" in source


def _value(rec: dict, source: str, field: str, line, where, blank_ok: bool = False) -> Any:
    """A record field (dotted: nested), or a rendered template; a missing field is an error naming it."""
    if _is_template(source):
        try:
            return _JINJA.from_string(source).render(**rec)
        except jinja2.UndefinedError as exc:
            raise DataError(where, line, f"the template of {field!r} uses {exc.message} (fields: "
                                         f"{', '.join(map(str, rec))})") from None
        except jinja2.TemplateError as exc:
            raise DataError(where, line, f"the template of {field!r} does not render ({exc})") from None
    value = rec
    if source in rec:
        value = rec[source]
    else:
        for part in source.split("."):
            if not isinstance(value, dict) or part not in value:
                raise DataError(where, line, f"field {source!r} is missing (the record has: "
                                             f"{', '.join(map(str, rec))})")
            value = value[part]
    if value is None and not blank_ok:
        raise DataError(where, line, f"field {source!r} is missing (null)")
    return value


def _text(rec, source, field, line, where) -> str:
    value = _value(rec, source, field, line, where)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(where, line, f"field {source!r} is {json_type(value)}, expected a string")
    value = str(value).strip()
    if not value:
        raise DataError(where, line, f"field {source!r} is empty")
    return value


def _conll_docs(path: Path, m: DocsMapping, suite: str) -> list[dict]:
    from suites.ner.conll import read_conll

    if not path.exists():
        raise MedtuneError(f"suite {suite}: data file {path} not found")
    corpus = read_conll(path, columns=m.columns, labels=m.labels)
    name = path.name
    fixes: dict[int, list[str]] = {}
    for line, old, new in corpus.repairs:
        fixes.setdefault(line, []).append(f"{old}->{new}")
    return [{"id": f"{name}:{s.line}", "words": s.words, "tags": s.tags,
             "repairs": [f"{name}:{ln} {r}" for ln in range(s.line, s.line + len(s.words)) for r in fixes.get(ln, [])]}
            for s in corpus.sentences]
