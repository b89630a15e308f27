"""Records of a data file in any supported format, for the ``docs:`` mapping (suites/_mapping.py).

Each reader yields ``(line, record)``: the line (a parquet file: the row, from 1) is what an
error about the record names. Text formats go through ``suites._data.read_text`` (so gzip/zstd,
UTF-8 and file:line errors are handled in one place).

    jsonl          one JSON object a line
    json           a list of objects, or an object {id: record} (the key becomes ``_key``);
                   ``data.records: a.b`` finds the list/object under keys a then b
    csv / tsv      a header row, then one record a row (every value a string)
    parquet        one record a row
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

from harness.errors import DataError
from suites._data import _loads, check_regular, data_suffix, json_type, read_jsonl, read_text

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "conll")
_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
              ".parquet": "parquet", ".conll": "conll", ".iob": "conll", ".iob2": "conll", ".bio": "conll"}


def file_format(path: Path | str, declared: str | None) -> str:
    """The declared format, else the one the suffix names (``x.csv.gz`` is csv)."""
    return declared or _BY_SUFFIX.get(data_suffix(path), "jsonl")


def read_records(path: Path, fmt: str, records: str | None = None) -> Iterator[tuple[int | None, dict]]:
    if fmt == "jsonl":
        yield from read_jsonl(path)
    elif fmt == "json":
        yield from read_json_records(path, records)
    elif fmt in ("csv", "tsv"):
        yield from read_csv_records(path, "\t" if fmt == "tsv" else ",")
    elif fmt == "parquet":
        yield from read_parquet_records(path)
    else:
        raise DataError(path, None, f"format {fmt!r} holds no records (formats: {', '.join(FORMATS)})")


def read_csv_records(path: Path, delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    """A header row, then records; a row with another number of cells than the header is an error."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter)
    header = None
    try:
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [h.strip() for h in row]
                continue
            if len(row) != len(header):
                raise DataError(path, reader.line_num, f"expected {len(header)} columns (as the header), found {len(row)}")
            yield reader.line_num, dict(zip(header, row))
    except csv.Error as exc:
        raise DataError(path, reader.line_num, f"malformed CSV ({exc})") from None


def read_parquet_records(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    check_regular(path)
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow.ArrowInvalid, OSError
        raise DataError(path, None, f"not a readable parquet file ({exc})") from None
    for i, rec in enumerate(table.to_pylist(), 1):
        yield i, rec


_WS = re.compile(r"[ \t\n\r]*")


def read_json_records(path: Path, records: str | None = None) -> Iterator[tuple[int, dict]]:
    """The records of a JSON document: the list (or {key: record} object) at the dotted key path
    ``records`` (the whole document without one), each with the line where it starts."""
    text = read_text(path)
    data = _loads(path, text)
    keys = [k for k in (records or "").split(".") if k]
    for depth, key in enumerate(keys):
        if not isinstance(data, dict) or key not in data:
            found = f"keys {', '.join(list(data)[:8])}" if isinstance(data, dict) else json_type(data)
            raise DataError(path, None, f"data.records {records!r}: no key {'.'.join(keys[:depth + 1])!r} ({found} there)")
        data = data[key]
    lines = _element_lines(text, keys)
    if isinstance(data, list):
        items = [(lines[i], None, rec) for i, rec in enumerate(data)]
    elif isinstance(data, dict):
        items = [(lines[i], key, rec) for i, (key, rec) in enumerate(data.items())]
    else:
        where = f"data.records {records!r}" if records else "the document"
        raise DataError(path, None, f"{where} is {json_type(data)}, expected a list of records or an object of records")
    for line, key, rec in items:
        if not isinstance(rec, dict):
            hint = ""
            if key is not None and not keys and isinstance(rec, (list, dict)) and rec:  # the records one level down
                hint = f"; if the records are under {key!r}, set data.records: {key}"
            elif key is not None and not keys:
                hint = "; set data.records to the dotted key of the list of records"
            raise DataError(path, line, f"expected a JSON object (a record), found {json_type(rec)}"
                                        f"{f' under key {key!r}' if key is not None else ''}{hint}")
        yield line, rec if key is None else {"_key": key, **rec}


def _element_lines(text: str, keys: list[str]) -> list[int]:
    """The line each element (or each key) of the container at ``keys`` starts on (the text is valid JSON)."""
    dec = json.JSONDecoder()
    pos = _WS.match(text).end()
    for key in keys:  # descend: at '{', find the key's value
        pos = _WS.match(text, pos + 1).end()
        while True:
            name, pos = dec.raw_decode(text, pos)
            pos = _WS.match(text, _WS.match(text, pos).end() + 1).end()  # past ':'
            if name == key:
                break
            _, pos = dec.raw_decode(text, pos)
            pos = _WS.match(text, pos).end() + 1  # past ','
            pos = _WS.match(text, pos).end()
    lines, is_object = [], text[pos] == "{"
    pos = _WS.match(text, pos + 1).end()
    line, counted = 1, 0
    while pos < len(text) and text[pos] not in "]}":
        line, counted = line + text.count("\n", counted, pos), pos
        lines.append(line)
        if is_object:
            _, pos = dec.raw_decode(text, pos)
            pos = _WS.match(text, _WS.match(text, pos).end() + 1).end()
        _, pos = dec.raw_decode(text, pos)
        pos = _WS.match(text, pos).end()
        if text[pos] == ",":
            pos = _WS.match(text, pos + 1).end()
    return lines


def keep(rows, where: dict[str, Any], path) -> Iterator[tuple[int | None, dict]]:
    """Records whose fields equal ``where``'s values (a list value: any of them)."""
    for line, rec in rows:
        if all(_matches(rec.get(field), want) for field, want in where.items()):
            yield line, rec


def _matches(value, want) -> bool:
    wants = want if isinstance(want, list) else [want]
    return any(value == w or (isinstance(value, str) and not isinstance(w, str) and value == str(w)) for w in wants)
