"""Readers for datasets in their published formats. Every error names file:line and field."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

from harness.errors import DataError, MedtuneError


def resolve_data_file(root: Path, relative: str, suite: str) -> Path:
    path = (root / relative).resolve()
    if not path.exists():
        raise MedtuneError(f"suite {suite}: data file {relative} not found under the data root {root}")
    return path


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) for each non-blank line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, lineno, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise DataError(path, lineno, "expected a JSON object")
            yield lineno, record


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, f"malformed JSON ({exc.msg})") from None


def read_csv(path: Path, columns: int | None = None, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, row); rows with the wrong column count are errors."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if columns is not None and len(row) != columns:
                raise DataError(path, reader.line_num, f"expected {columns} columns, found {len(row)}")
            yield reader.line_num, row


def require(record: dict, field: str, path: Path, lineno: int | None, kinds: type | tuple = object) -> Any:
    """``record[field]``, or a DataError naming file:line and the field."""
    if field not in record or record[field] is None:
        raise DataError(path, lineno, f"field {field!r} is missing")
    value = record[field]
    if not isinstance(value, kinds):
        raise DataError(path, lineno, f"field {field!r} has type {type(value).__name__}")
    return value
