"""The records of a tuning data file, read ONCE for the tuning backend and for the leakage audit.

A variant's lineage lists its data files as ``{path, format, role, sha256}`` and the ids of the
records it held out for validation (``eval_ids``). Tuning reads those files here to train; the
leakage audit reads them back here to tell trained records from held-out ones and to score them.
Both therefore see the same ids and the same texts:

- ``text``: one record a non-blank line (``harness.corpus``: .txt, .jsonl records' text, .gz/.zst);
  id ``<file name>:<line>``, text the line stripped.
- ``icd10``: ``code<TAB>description[<TAB>inclusion terms]`` rows serialised as a tagged record
  ``<icd code="A00.0">description; inclusions</icd>``; id the code.
- ``pubmedqa``: PQA-L records prompted exactly as the ``pubmedqa`` suite asks; id the PMID; the
  answer (target delimiter + label) is kept apart, since supervised tuning trains on it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from harness.errors import DataError, MedtuneError

FORMATS = ("text", "icd10", "pubmedqa")


@dataclass
class TrainingRecord:
    id: str       # the record's id in the tuning run (lineage ``eval_ids`` hold these)
    source: str   # "path:line" or "path#id", to open the record
    text: str     # language-model text, or the prompt of a QA record
    answer: str | None = None  # QA target (with its leading delimiter); None for LM text

    @property
    def full_text(self) -> str:
        """The whole record as the model reads it (prompt + answer)."""
        return self.text + (self.answer or "")


def records(path: str | Path, fmt: str, limit: int | None = None, what: str = "training file",
            where: str | None = None) -> Iterator[TrainingRecord]:
    """The records of one data file of format ``fmt``, in file order (the first ``limit`` of them).

    Errors name the file as ``what path`` (``where``, when given, replaces that for format errors)."""
    where = where or f"{what} {path}"
    if fmt == "pubmedqa":
        yield from pubmedqa_records(pubmedqa_root(path, where), "train", limit, source=str(path))
        return
    if fmt not in ("text", "icd10"):
        raise MedtuneError(f"{where}: format {fmt!r} has no record reader (known: {', '.join(FORMATS)})")
    from harness.corpus import documents

    path = Path(path)
    if not path.is_file():
        raise MedtuneError(f"{what} {path} cannot be read: no such file")
    n = 0
    for doc in documents([path], what=what):
        if limit and n >= limit:
            return
        line = doc.source.rsplit(":", 1)[1]
        if fmt == "text":
            yield TrainingRecord(f"{path.name}:{line}", doc.source, doc.text.strip())
        else:
            yield _icd10(doc.text, path, int(line), doc.source)
        n += 1


def icd10_record(code: str, description: str, inclusions: str = "") -> str:
    body = description.strip() + (f"; {inclusions.strip()}" if inclusions.strip() else "")
    return f'<icd code="{code.strip()}">{body}</icd>'


def _icd10(line: str, path: Path, lineno: int, source: str) -> TrainingRecord:
    cols = line.rstrip("\r\n").split("\t")
    if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
        raise DataError(path, lineno, "expected code<TAB>description[<TAB>inclusion terms]")
    return TrainingRecord(cols[0].strip(), source, icd10_record(cols[0], cols[1], cols[2] if len(cols) > 2 else ""))


def pubmedqa_root(path: str | Path, where: str | None = None) -> Path:
    """The data root of a recorded PubMedQA file (its path ends in the suite's data path)."""
    from suites import load_suite

    rel = load_suite("pubmedqa").spec.data.path
    if not str(path).endswith(rel):
        raise MedtuneError(f"{where or f'training file {path}'}: format pubmedqa expects a path ending in {rel}")
    return Path(str(path)[: -len(rel)])


def pubmedqa_records(root: Path, split: str = "train", limit: int | None = None,
                     source: str | None = None) -> Iterator[TrainingRecord]:
    """PQA-L records of ``split`` (train: all but the official test ids; eval: those), prompted as the suite."""
    from suites import load_suite

    suite = load_suite("pubmedqa")
    source = source or str(root / suite.spec.data.path)
    for doc in suite.load_docs(root, split=split)[: limit or None]:
        yield TrainingRecord(str(doc["id"]), f"{source}#{doc['id']}", suite.prompt(doc),
                             suite.spec.target_delimiter + suite.type.target_text(doc))
