"""Records -> rubric documents, with no code for HealthBench's JSONL layout.

Each record: ``prompt`` (or ``messages`` / ``conversation``: a list of {role, content}),
``rubrics`` (or ``criteria``: a list of {criterion, points, tags}), optionally ``example_tags``
(or ``tags``) and ``prompt_id`` (or ``id``; default ``<file>:<line>``). ``data.path`` is relative to
the data root, absolute, a glob or a list of them; a file not under the data root is looked up
beside the shipped rubric suites (the sample suite's own data).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import DataError, MedtuneError
from suites._data import expand_data_paths
from suites._records import FORMATS, file_format, keep, read_records

SHIPPED = Path(__file__).parent


def _files(root: Path, entries: list[str]) -> list[Path]:
    out = []
    for entry in entries:
        local = Path(entry).expanduser()
        if not local.is_absolute() and not (Path(root) / local).exists() and (SHIPPED / local).is_file():
            out.append(SHIPPED / local)
        else:
            out += expand_data_paths(Path(root), [entry])
    return out


def rubric_docs(root: Path, spec, options: dict) -> list[dict]:
    split = options.get("split", "eval")
    if split not in ("eval", "test"):
        if split not in spec.splits:
            raise MedtuneError(f"suite {spec.name}: no split {split!r} (splits: {', '.join(['eval', *spec.splits])})")
        entries = [spec.splits[split]]
    else:
        entries = spec.data.paths
    docs = []
    for path in _files(root, entries):
        if not path.exists():
            raise MedtuneError(f"suite {spec.name}: data file {path} not found (data.path {spec.data.shown} is "
                               f"relative to the data root {root}, or absolute)")
        fmt = file_format(path, spec.data.format if "format" in spec.data.model_fields_set else None)
        if fmt not in FORMATS:
            raise MedtuneError(f"suite {spec.name}: data.format {fmt!r} is not one of {', '.join(FORMATS)}")
        rows = read_records(path, fmt, spec.data.records)
        if spec.data.where:
            rows = keep(rows, spec.data.where, path)
        for line, rec in rows:
            docs.append(record_doc(rec, line, path))
    return docs


def record_doc(rec: dict, line, path: Path) -> dict:
    if not isinstance(rec, dict):
        raise DataError(path, line, "expected a JSON object per line")
    doc = {k: v for k, v in rec.items() if isinstance(v, (str, int, float, bool)) and not k.startswith("_")}
    ident = rec.get("prompt_id", rec.get("id"))
    doc["id"] = str(ident) if ident not in (None, "") else f"{path.name}:{line}"
    doc["messages"] = rec.get("messages", rec.get("prompt", rec.get("conversation")))
    doc["criteria"] = rec.get("criteria", rec.get("rubrics"))
    doc["tags"] = list(rec.get("example_tags", rec.get("tags")) or [])
    return doc
