"""Readers for datasets in their published formats. Every error names file:line and field.

``read_text`` is the one place a data file is opened: a folder, a missing file or bytes that
are not UTF-8 (anywhere in the file, not only in the part ``--limit`` keeps) are DataErrors.
gzip/zstd files are decompressed there, by suffix. The format readers (jsonl, json,
csv; CoNLL in ner/conll.py; records of any format for the ``docs:`` mapping in _records.py) and the checks below are what
the ``process_docs`` functions use, so a wrong record is refused, never scored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

from harness.errors import DataError, MedtuneError


def resolve_data_file(root: Path, relative: str, suite: str) -> Path:
    path = (root / relative).resolve()
    if not path.exists():
        raise MedtuneError(f"suite {suite}: data file {relative} not found under the data root {root}")
    return path


def check_regular(path: Path) -> None:
    """A data file must be a regular file: a folder is refused, and a FIFO or device (which would block the
    read forever, or never end) is refused before it is opened."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, None, "is a folder, expected a data file")
    if path.exists() and not path.is_file():
        raise DataError(path, None, "is not a regular file (a FIFO or device?), expected a data file")


def is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_data_paths(root: Path, entries: list[str], what: str = "data.path") -> list[Path]:
    """Files of ``data.path`` entries (relative to ``root`` or absolute), each glob expanded in sorted order; a
    glob that matches nothing is an error naming it (a missing plain file is left to the reader to name)."""
    import glob as globlib

    out: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        full = path if path.is_absolute() else Path(root) / path
        if is_glob(entry):
            matches = sorted(Path(p) for p in globlib.glob(str(full), recursive=True) if Path(p).is_file())
            if not matches:
                raise MedtuneError(f"{what} {entry!r} matches no file under {full.parent if not path.is_absolute() else '/'}")
            out.extend(matches)
        else:
            out.append(full)
    return list(dict.fromkeys(out))


def read_text(path: Path) -> str:
    """The whole file as UTF-8 text."""
    path = Path(path)
    check_regular(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(path, None, f"cannot be read ({exc.strerror or exc})") from None
    data = _decompress(path, data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(path, line, f"not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})") from None


def _decompress(path: Path, data: bytes) -> bytes:
    """gzip (``.gz``) and zstd (``.zst``/``.zstd``) files are read transparently, by suffix."""
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            import gzip

            return gzip.decompress(data)
        if name.endswith((".zst", ".zstd")):
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except Exception as exc:  # gzip.BadGzipFile, EOFError, zstandard.ZstdError, zlib.error
        raise DataError(path, None, f"cannot be decompressed ({exc})") from None
    return data


def data_suffix(path: Path | str) -> str:
    """The format suffix of a data file, past a compression suffix: ``x.csv.gz`` -> ``.csv``."""
    name = Path(path).name.lower()
    for comp in (".gz", ".zst", ".zstd"):
        name = name.removesuffix(comp)
    return Path(name).suffix


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) for every line; only ``\\n`` ends a line (JSON strings may hold U+2028)."""
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        yield lineno, line.removesuffix("\r")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) for each non-blank line."""
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, lineno, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise DataError(path, lineno, f"expected a JSON object, found {json_type(record)}")
        yield lineno, record


def _loads(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, f"malformed JSON ({exc.msg} at column {exc.colno})") from None


def read_json(path: Path) -> Any:
    return _loads(path, read_text(path))


_WS = re.compile(r"[ \t\n\r]*")


def read_json_object(path: Path) -> Iterator[tuple[int, str, Any]]:
    """Yield (line of the key, key, value) for each key of a file holding one JSON object."""
    text = read_text(path)
    data = _loads(path, text)
    start = _WS.match(text).end()
    if not isinstance(data, dict):
        line = text.count("\n", 0, start) + 1
        raise DataError(path, line, f"expected a JSON object {{id: record}}, found {json_type(data)}")
    decoder, pos, seen = json.JSONDecoder(), start + 1, set()
    line, counted = 1, 0
    while True:  # the file is valid JSON (checked above): walk it once more for the key lines
        pos = _WS.match(text, pos).end()
        if text[pos] == "}":
            return
        line, counted = line + text.count("\n", counted, pos), pos
        key, pos = decoder.raw_decode(text, pos)
        if key in seen:
            raise DataError(path, line, f"key {key!r} appears twice")
        seen.add(key)
        pos = _WS.match(text, _WS.match(text, pos).end() + 1).end()  # past ':'
        value, pos = decoder.raw_decode(text, pos)
        yield line, key, value
        pos = _WS.match(text, pos).end()
        pos += text[pos] == ","


def read_csv(path: Path, columns: int | None = None, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, row); rows with the wrong column count are errors."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if columns is not None and len(row) != columns:
                raise DataError(path, reader.line_num, f"expected {columns} columns, found {len(row)}")
            yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(path, reader.line_num, f"malformed CSV ({exc})") from None


# -- checks for process_docs ------------------------------------------------------------------

def json_type(value: Any) -> str:
    """The JSON name of a value's type, as a user reading the file sees it."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


_EXPECTED = {str: "a string", int: "an integer", list: "a list", dict: "an object", float: "a number"}


def require(record: dict, field: str, path: Path, lineno: int | None, kinds: type | tuple = object) -> Any:
    """``record[field]``, or a DataError naming file:line and the field.

    A boolean is never accepted where an integer is asked for (JSON ``true`` is not option 1)."""
    if field not in record or record[field] is None:
        raise DataError(path, lineno, f"field {field!r} is missing")
    value = record[field]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds and object not in kinds):
        expected = " or ".join(_EXPECTED.get(k, k.__name__) for k in kinds)
        raise DataError(path, lineno, f"field {field!r} is {json_type(value)}, expected {expected}")
    return value


def require_text(record: dict, field: str, path: Path, lineno: int | None) -> str:
    """A string field that is not blank (returned as is)."""
    value = require(record, field, path, lineno, str)
    if not value.strip():
        raise DataError(path, lineno, f"field {field!r} is empty")
    return value


def require_choices(values: list, field: str, path: Path, lineno: int | None, names: list | None = None) -> list[str]:
    """Option texts (returned as is): at least two, each a non-blank string (an empty one would always win)."""
    if len(values) < 2:
        raise DataError(path, lineno, f"field {field!r} has {len(values)} option(s), expected at least 2")
    for i, value in enumerate(values):
        where = f"{field}.{names[i]}" if names else f"{field}[{i}]"
        if not isinstance(value, str):
            raise DataError(path, lineno, f"field {where!r} is {json_type(value)}, expected a string")
        if not value.strip():
            raise DataError(path, lineno, f"field {where!r} is empty")
    return list(values)


def require_index(record: dict, field: str, path: Path, lineno: int | None, n: int) -> int:
    """A 0-based answer index below ``n``: an integer (or its digits as a string), never a boolean."""
    value = require(record, field, path, lineno, (int, str))
    if isinstance(value, str):
        if not (value.isascii() and value.strip().isdigit()):
            raise DataError(path, lineno, f"field {field!r} is {value!r}, expected an integer 0..{n - 1}")
        value = int(value)
    if not 0 <= value < n:
        raise DataError(path, lineno, f"field {field!r} is {value}, expected 0..{n - 1}")
    return value
