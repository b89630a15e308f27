"""What a variant trained on: its lineage and its ancestors', read back from the variants table.

The tuning backend records ``lineage.data_files`` = ``[{path, sha256, role, format}]`` and the
held-out validation ids (``eval_ids``). Trained-on roles are ``train``, ``replay`` and ``canary``;
``eval`` / ``excluded_ids`` entries describe what was held out. A built-in base has no record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from harness import training_records
from harness.errors import MedtuneError
from harness.leakage.text import Document, read_documents

TRAINED_ROLES = ("train", "replay", "canary")


@dataclass
class Source:
    variant: str  # whose lineage lists the file
    path: str
    role: str
    format: str
    sha256: str | None
    eval_ids: set[str] = field(default_factory=set)
    limit: int | None = None
    siblings: list[dict] = field(default_factory=list)  # the other data_files of the same variant

    @property
    def label(self) -> str:
        return f"{self.path} (role {self.role}, lineage of {self.variant})"


def has_record(store, variant: str) -> bool:
    """Whether ``variant`` has a row in the results DB (a built-in model or HF directory may not)."""
    from harness.store.variants import get_variant

    return get_variant(store, variant) is not None


def lineage_chain(store, variant: str) -> list[dict]:
    """The variant, its parent, ... up to the base (rows of the variants table)."""
    from harness.store.variants import get_variant

    chain, name = [], variant
    while name is not None:
        row = get_variant(store, name)
        if row is None:
            if not chain:
                raise MedtuneError(f"variant {variant!r} is not in the results DB {store.path}; "
                                   "tune it (`medtune tune`) or evaluate it first")
            break  # a parent recorded by name only: a base without a row
        if any(r["name"] == name for r in chain):
            raise MedtuneError(f"variant {variant!r}: its lineage loops at {name!r}")
        chain.append(row)
        name = row.get("parent")
    return chain


def training_sources(chain: list[dict]) -> list[Source]:
    out = []
    for row in chain:
        lin = row.get("lineage") or {}
        files = lin.get("data_files") or []
        limit = ((lin.get("config") or {}).get("data") or {}).get("limit")
        for f in files:
            if not isinstance(f, dict) or "path" not in f:
                raise MedtuneError(f"variant {row['name']}: lineage.data_files has an entry without 'path': {f!r}")
            if f.get("role", "train") in TRAINED_ROLES:
                out.append(Source(row["name"], str(f["path"]), f.get("role", "train"), f.get("format") or "",
                                  f.get("sha256"), set(map(str, lin.get("eval_ids") or [])), limit, files))
    return out


def require_sources(variant: str, chain: list[dict], sources: list[Source]) -> None:
    """Errors for a variant with no recorded data and for training files that cannot be read."""
    if not sources:
        names = " -> ".join(r["name"] for r in chain)
        raise MedtuneError(f"variant {variant!r}: no training data is recorded in its lineage ({names}; "
                           "lineage.data_files is empty: a built-in base records none). Pass --corpus FILE "
                           "to audit text it is known to have seen")
    for src in sources:
        if src.path == "self":
            continue  # self-generated replay: the texts themselves are not kept
        path = Path(src.path)
        if not path.is_file():
            raise MedtuneError(f"training file {src.label} cannot be read: no such file")
        try:
            with open(path, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise MedtuneError(f"training file {src.label} cannot be read: {exc.strerror}") from None


def documents(src: Source, held_out: bool = False) -> Iterator[Document]:
    """The records ``src`` trained on (``held_out``: only its held-out validation records)."""
    if src.path == "self":
        return
    keep = (lambda d: d.id in src.eval_ids) if held_out else (lambda d: d.id not in src.eval_ids)
    for n, doc in enumerate(_records(src)):
        if src.limit and n >= src.limit:
            break
        if keep(doc):
            yield doc


def _records(src: Source) -> Iterator[Document]:
    """The records of a training file, read by the same reader as the tuning run (same ids, same texts)."""
    if src.format in training_records.FORMATS:
        for r in training_records.records(src.path, src.format, where=f"training file {src.label}"):
            yield Document(r.source, r.full_text, r.id)
    else:
        yield from read_documents(Path(src.path))


def pubmedqa_documents(src: Source, split: str) -> Iterator[Document]:
    """PQA-L records rendered exactly as the sft method trains on them: the suite prompt + answer."""
    root = training_records.pubmedqa_root(src.path, f"training file {src.label}")
    for r in training_records.pubmedqa_records(root, split, source=src.path):
        yield Document(r.source, r.full_text, r.id)


def canaries(chain: list[dict]) -> list[dict]:
    """Canary records planted in the variant or its ancestors (lineage.canaries or a canary file)."""
    out, seen = [], set()
    for row in chain:
        lin = row.get("lineage") or {}
        records = list(lin.get("canaries") or [])
        if not records:
            for f in lin.get("data_files") or []:
                if f.get("role") == "canary" and Path(f["path"]).is_file():
                    records = [json.loads(line) for line in Path(f["path"]).read_text().splitlines() if line.strip()]
        for rec in records:
            if rec.get("id") not in seen:
                seen.add(rec.get("id"))
                out.append(rec)
    return out
