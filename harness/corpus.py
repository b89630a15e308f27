"""Training corpora read as a stream: files, folders and globs of text, JSON Lines and Parquet, plain,
gzip or zstd, one document at a time (``documents``) or in blocks of many (``blocks``) for scans that
work on big strings. Memory stays bounded by the block size, whatever the corpus size.

Formats, by suffix (after ``.gz`` / ``.zst`` / ``.zstd``):

- ``.jsonl`` / ``.ndjson``: one JSON record a line; its text is ``text_field`` (default ``text``), else
  ``record_text`` (chat ``messages``, else every string value). Source ``path:line``.
- ``.parquet``: the ``text_field`` column, read a row group at a time. Source ``path#row`` (0-based).
- anything else (``.txt``, ``.raw``...): one document a line, blank lines skipped. Source ``path:line``.

A folder means every file under it (recursively, sorted, hidden files skipped); a pattern with
``*``, ``?`` or ``[`` is a glob (``**`` recursive). Line numbers count every line, blank ones included,
so ``path:line`` opens at the document.
"""

from __future__ import annotations

import glob as _glob
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from harness.errors import DataError, MedtuneError

BLOCK_CHARS = 8 << 20  # characters of text per block (a block holds whole documents)
COMPRESSED = (".gz", ".zst", ".zstd")


@dataclass
class Document:
    source: str  # "path:line" or "path#key"
    text: str
    id: str | None = None  # the record's id in its tuning run (to tell trained from held-out records)


@dataclass
class Block:
    """Many documents as one string, one document a line (no document contains a newline)."""

    text: str
    path: str = ""
    first: int = 1                    # line number of document 0 (when ``lines`` is None)
    lines: list[int] | None = None    # line number / row of each document
    sep: str = ":"
    names: list[str] | None = None    # explicit source of each document (documents given one by one)

    def source(self, k: int) -> str:
        if self.names is not None:
            return self.names[k]
        return f"{self.path}{self.sep}{self.lines[k] if self.lines is not None else self.first + k}"


def _kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSED:
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}.get(last, "text")


def expand(specs: Iterable[str | Path], what: str = "--corpus") -> list[Path]:
    """Files named by ``specs`` (files, folders, globs), in order, each once; an error for one that matches nothing."""
    out: dict[Path, None] = {}
    for spec in specs:
        s = str(spec)
        if any(c in s for c in "*?["):
            found = sorted(Path(p) for p in _glob.glob(s, recursive=True) if Path(p).is_file())
        elif Path(s).is_dir():
            found = sorted(p for p in Path(s).rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(s).parts))
        elif Path(s).is_file():
            found = [Path(s)]
        else:
            raise MedtuneError(f"{what} {s} cannot be read: no such file")
        if not found:
            raise MedtuneError(f"{what} {s} matches no file")
        out.update(dict.fromkeys(found))
    return list(out)


def _open_text(path: Path):
    """A text stream over the file, decompressing gzip / zstd by suffix (universal newlines, as ``open``)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    if name.endswith((".zst", ".zstd")):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True),
                                encoding="utf-8")
    return open(path, encoding="utf-8")


def record_text(rec) -> str:
    """A training record as text: its ``text`` field, chat ``messages``, else every string value."""
    if isinstance(rec, str):
        return rec
    if isinstance(rec, dict):
        if isinstance(rec.get("text"), str):
            return rec["text"]
        if isinstance(rec.get("messages"), list):
            return "\n".join(str(m.get("content", "")) for m in rec["messages"] if isinstance(m, dict))
        return " ".join(record_text(v) for v in rec.values() if isinstance(v, (str, list, dict)))
    if isinstance(rec, list):
        return " ".join(record_text(v) for v in rec if isinstance(v, (str, list, dict)))
    return ""


def _record_text(rec, text_field: str) -> str:
    if isinstance(rec, dict) and isinstance(rec.get(text_field), str):
        return rec[text_field]
    return record_text(rec)


def blocks(specs: Iterable[str | Path], text_field: str = "text", block_chars: int = BLOCK_CHARS,
           what: str = "--corpus") -> Iterator[Block]:
    """The documents of every file named by ``specs``, in blocks of about ``block_chars`` characters."""
    for path in expand(specs, what):
        yield from file_blocks(path, text_field, block_chars, what)


def file_blocks(path: Path, text_field: str = "text", block_chars: int = BLOCK_CHARS,
                what: str = "--corpus") -> Iterator[Block]:
    kind = _kind(path)
    try:
        if kind == "parquet":
            yield from _parquet_blocks(path, text_field, block_chars)
            return
        with _open_text(path) as fh:
            if kind == "jsonl":
                yield from _jsonl_blocks(fh, path, text_field, block_chars)
            else:
                line = 1
                while True:
                    text = fh.read(block_chars)
                    if not text:
                        return
                    if not text.endswith("\n"):
                        text += fh.readline()  # end the block at a line end
                    yield Block(text, str(path), first=line)
                    line += text.count("\n")
    except UnicodeDecodeError as exc:
        raise MedtuneError(f"{what} {path} cannot be read: not UTF-8 text ({exc.reason})") from None
    except (OSError, EOFError) as exc:
        raise MedtuneError(f"{what} {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None


def _jsonl_blocks(fh, path: Path, text_field: str, block_chars: int) -> Iterator[Block]:
    texts, lines, size = [], [], 0
    for lineno, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, lineno, f"malformed JSON ({exc.msg})") from None
        text = _record_text(rec, text_field).replace("\n", " ").replace("\r", " ")
        texts.append(text)
        lines.append(lineno)
        size += len(text)
        if size >= block_chars:
            yield Block("\n".join(texts), str(path), lines=lines)
            texts, lines, size = [], [], 0
    if texts:
        yield Block("\n".join(texts), str(path), lines=lines)


def _parquet_blocks(path: Path, text_field: str, block_chars: int) -> Iterator[Block]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a file that is not Parquet
        raise MedtuneError(f"--corpus {path} cannot be read as Parquet: {exc}") from None
    if text_field not in pf.schema_arrow.names:
        raise MedtuneError(f"--corpus {path}: no column {text_field!r} (columns: {', '.join(pf.schema_arrow.names)}); "
                           "pass --text-field")
    row = 0
    # rows per batch from the file's own average text length, so a block stays near block_chars
    for batch in pf.iter_batches(batch_size=max(1, min(65536, block_chars // 2048)), columns=[text_field]):
        col = pc.replace_substring_regex(batch.column(0).fill_null(""), "[\r\n]", " ")
        texts = col.to_pylist()
        yield Block("\n".join(texts), str(path), first=row, sep="#")
        row += len(texts)


def documents(specs: Iterable[str | Path], text_field: str = "text", what: str = "--corpus") -> Iterator[Document]:
    """Every non-blank document of the corpus with its source, one at a time."""
    for block in blocks(specs, text_field, what=what):
        for k, text in enumerate(block.text.split("\n")):
            if text.strip():
                yield Document(block.source(k), text)


def documents_to_blocks(docs: Iterable[Document], block_chars: int = BLOCK_CHARS) -> Iterator[Block]:
    """Documents given one by one (with their own sources) as blocks."""
    texts, names, size = [], [], 0
    for d in docs:
        t = d.text.replace("\n", " ").replace("\r", " ")
        texts.append(t)
        names.append(d.source)
        size += len(t)
        if size >= block_chars:
            yield Block("\n".join(texts), names=names)
            texts, names, size = [], [], 0
    if texts:
        yield Block("\n".join(texts), names=names)
