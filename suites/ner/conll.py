"""CoNLL token files (token TAB tag, blank line between sentences) as NER documents.

``read_conll`` is the generic reader: any corpus in this format becomes a suite with a small
YAML naming its files. Tags must be IOB2 (``O``, ``B-TYPE``, ``I-TYPE``); an ``I-`` tag that
does not continue an entity of its type is *repaired* to ``B-`` exactly as IOB1->IOB2
conversion does, and every repair is counted (the NER suite reports them, never silently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import DataError, MedtuneError
from suites._data import read_lines, resolve_data_file

TAG = re.compile(r"^(O|[BI]-\S+)$")


@dataclass
class Sentence:
    line: int  # line number of the first token
    words: list[str]
    tags: list[str]


@dataclass
class Corpus:
    path: Path
    sentences: list[Sentence]
    repairs: list[tuple[int, str, str]] = field(default_factory=list)  # (line, tag as read, tag used)

    @property
    def labels(self) -> list[str]:
        return label_set({t for s in self.sentences for t in s.tags})


def label_set(tags) -> list[str]:
    """O first, then B-/I- of each entity type in name order (a stable label <-> id map)."""
    types = sorted({t[2:] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in "BI"]


def read_conll(path: Path, columns: int = 2, labels: list[str] | None = None) -> Corpus:
    """Read a CoNLL file: ``columns`` tab-separated fields a line (token first, tag last).

    ``labels``, if given, is the allowed tag set (e.g. the training split's): any other tag is
    an error naming file:line. Raises DataError for a malformed line or a file without sentences.
    """
    path = Path(path)
    allowed = set(labels) if labels is not None else None
    sentences, repairs = [], []
    words, tags, start = [], [], 0
    for lineno, line in read_lines(path):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(Sentence(start, words, tags))
            words, tags = [], []
            continue
        cells = line.split("\t")
        if len(cells) != columns:
            raise DataError(path, lineno, f"expected {columns} tab-separated columns (token, tag), found {len(cells)}")
        word, tag = cells[0], cells[-1].strip()
        if not word.strip():
            raise DataError(path, lineno, "empty token")
        if not TAG.match(tag):
            raise DataError(path, lineno, f"tag {tag!r} is not IOB2 (O, B-TYPE or I-TYPE)")
        if allowed is not None and tag not in allowed and _repaired_b(tag) not in allowed:
            raise DataError(path, lineno, f"unknown tag {tag!r} (labels: {', '.join(sorted(allowed))})")
        if tag.startswith("I-") and (not tags or tags[-1][2:] != tag[2:]):
            fixed = _repaired_b(tag)
            repairs.append((lineno, tag, fixed))
            tag = fixed
        if not words:
            start = lineno
        words.append(word)
        tags.append(tag)
    if words:
        sentences.append(Sentence(start, words, tags))
    if not sentences:
        raise DataError(path, None, "no sentences (empty file?)")
    return Corpus(path, sentences, repairs)


def _repaired_b(tag: str) -> str:
    return "B-" + tag[2:] if tag.startswith("I-") else tag


def split_file(root: Path, spec, split: str) -> Path:
    """The file of ``split`` (eval = the suite's own file; train/devel/... from ``splits``)."""
    if split in ("eval", "fewshot"):
        return resolve_data_file(root, spec.data.path, spec.name)
    if split not in spec.splits:
        known = ", ".join(["eval", *spec.splits])
        raise MedtuneError(f"suite {spec.name}: no split {split!r} (splits: {known})")
    return resolve_data_file(root, spec.splits[split], spec.name)


def docs(root: Path, spec, options: dict) -> list[dict]:
    """One document per sentence: id (file:line), words, tags; repairs ride along on each doc."""
    columns = options.get("columns", 2)
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 2:
        raise MedtuneError(f"suite {spec.name}: option 'columns' is {columns!r}, expected an integer >= 2 (token ... tag)")
    corpus = read_conll(split_file(root, spec, options.get("split", "eval")), columns=columns)
    name = corpus.path.name
    repaired = {}
    for line, old, new in corpus.repairs:
        repaired.setdefault(line, []).append(f"{old}->{new}")
    out = []
    for s in corpus.sentences:
        lines = range(s.line, s.line + len(s.words))
        fixes = [f"{name}:{ln} {r}" for ln in lines for r in repaired.get(ln, [])]
        out.append({"id": f"{name}:{s.line}", "words": s.words, "tags": s.tags, "repairs": fixes})
    return out
