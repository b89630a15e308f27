"""``medtune monitor ingest``: traffic logs into the results DB, streamed, idempotent, never half-loaded.

For each file:

1. its SHA-256 is computed; a file already ingested for the variant adds nothing (``traffic_files``);
2. it is read in batches (JSONL line by line, gzip/zstd by suffix; Parquet by row batches): each record
   is mapped (``mapping.py``), its features computed (``features.py``) and the batch appended to a staged
   Parquet file beside the DB; memory holds one batch, whatever the file's size;
3. a bad record refuses the file (a ``DataError`` naming ``file:line`` and the field) unless
   ``skip_bad``: then it is skipped and reported;
4. when every file given has been read, each staged file is loaded in one transaction: its records whose
   hash the variant does not hold yet (a record's hash: its id if it has one, else its time, model, prompt
   and response), and the ``traffic_files`` row. A bad line in any file loads nothing at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from harness.errors import DataError, MedtuneError
from harness.evaluate import file_sha256
from harness.monitor.features import features
from harness.monitor.mapping import TrafficMapping, read_record
from harness.store import Store
from harness.store.monitor import TRAFFIC_COLUMNS, ingested_files

BATCH = 20_000
MAX_SKIPPED_KEPT = 20  # bad lines listed in traffic_files.skipped (all are counted)
COLUMNS = TRAFFIC_COLUMNS


def _schema():
    import pyarrow as pa

    s, i32 = pa.string(), pa.int32()
    return pa.schema([("variant", s), ("record_hash", s), ("file_sha256", s), ("line", i32),
                      ("ts", pa.timestamp("us")), ("model", s), ("prompt", pa.large_string()),
                      ("response", pa.large_string()), ("feedback", pa.float64()), ("prompt_chars", i32),
                      ("response_chars", i32), ("prompt_words", i32), ("response_words", i32), ("language", s),
                      ("refusal", pa.bool_()), ("pii_kinds", s), ("pii_count", i32), ("response_key", pa.int64()),
                      ("first_token", s)])


@dataclass
class FileResult:
    path: Path
    sha256: str
    format: str
    n_read: int = 0
    n_added: int = 0
    n_duplicates: int = 0
    skipped: list[tuple[int | None, str]] = field(default_factory=list)
    n_skipped: int = 0
    already: bool = False  # the same file was ingested before: nothing read
    ts_min: object = None
    ts_max: object = None
    staged: Path | None = None


def file_format(path: Path) -> str:
    name = path.name.lower()
    for comp in (".gz", ".zst", ".zstd"):
        name = name.removesuffix(comp)
    return "parquet" if name.endswith((".parquet", ".pq")) else "jsonl"


def _open_text(path: Path):
    """A binary stream of the file, decompressed on the fly (.gz, .zst)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")
    if name.endswith((".zst", ".zstd")):
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)  # its own reader has no readline
    return open(path, "rb")


def _jsonl_records(path: Path) -> Iterator[tuple[int, object]]:
    """(line, parsed JSON or the DataError of that line), one line at a time."""
    with _open_text(path) as stream:
        try:
            for lineno, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    yield lineno, DataError(path, lineno, f"not valid UTF-8 (byte {line[exc.start]:#04x} at column "
                                                          f"{exc.start + 1})")
                except json.JSONDecodeError as exc:
                    yield lineno, DataError(path, lineno, f"malformed JSON ({exc.msg} at column {exc.colno})")
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip/zstd stream
            raise DataError(path, None, f"cannot be read ({exc})") from None
        except Exception as exc:  # zstandard.ZstdError
            if type(exc).__module__.startswith("zstandard"):
                raise DataError(path, None, f"cannot be decompressed ({exc})") from None
            raise


def _parquet_records(path: Path, batch: int) -> Iterator[tuple[int, object]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow.ArrowInvalid, OSError
        raise DataError(path, None, f"not a readable parquet file ({exc})") from None
    row = 0
    for rb in pf.iter_batches(batch_size=batch):
        for rec in rb.to_pylist():
            row += 1
            yield row, rec


def record_hash(rec: dict) -> str:
    if rec["id"] is not None:
        key = "id\x1f" + rec["id"]
    else:
        key = "\x1f".join((rec["timestamp"].isoformat(), rec["model"] or "", rec["prompt"], rec["response"]))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def iter_traffic(path: Path, mapping: TrafficMapping, skip_bad: bool = False, batch: int = BATCH,
                 on_skip: Callable[[int | None, str], None] | None = None) -> Iterator[tuple[int, dict]]:
    """(line, {id, timestamp, model, prompt, response, feedback, **features}) of every good record."""
    fmt = file_format(path)
    source = _parquet_records(path, batch) if fmt == "parquet" else _jsonl_records(path)
    for line, rec in source:
        try:
            if isinstance(rec, DataError):
                raise rec
            out = read_record(rec, mapping, path, line)
        except DataError as exc:
            if not skip_bad:
                raise
            if on_skip:
                on_skip(line, str(exc))
            continue
        out.update(features(out["prompt"], out["response"]))
        yield line, out


def _stage(path: Path, result: FileResult, variant: str, mapping: TrafficMapping, skip_bad: bool, folder: Path,
           batch: int, progress: Callable[[int], None] | None) -> None:
    """Read the whole file into a staged Parquet file (``result.staged``); raises on a bad line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".medtune-ingest-", suffix=".parquet")
    os.close(fd)
    result.staged = Path(tmp)

    def skip(line, message):
        result.n_skipped += 1
        if len(result.skipped) < MAX_SKIPPED_KEPT:
            result.skipped.append((line, message))

    cols: dict[str, list] = {c: [] for c in COLUMNS}
    sha = result.sha256
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        def flush():
            if cols["line"]:
                writer.write_table(pa.Table.from_pydict(cols, schema=schema))
                if progress:
                    progress(len(cols["line"]))
                for values in cols.values():
                    values.clear()

        for line, rec in iter_traffic(path, mapping, skip_bad, batch, skip):
            ts = rec["timestamp"]
            result.ts_min = ts if result.ts_min is None or ts < result.ts_min else result.ts_min
            result.ts_max = ts if result.ts_max is None or ts > result.ts_max else result.ts_max
            cols["variant"].append(variant)
            cols["record_hash"].append(record_hash(rec))
            cols["file_sha256"].append(sha)
            cols["line"].append(line)
            cols["ts"].append(ts)
            for c in COLUMNS[5:]:
                cols[c].append(rec[c])
            result.n_read += 1
            if len(cols["line"]) >= batch:
                flush()
        flush()


def _load(store: Store, result: FileResult, variant: str, mapping: TrafficMapping) -> None:
    """One transaction: the staged records the variant does not hold yet, and the traffic_files row."""
    from harness.store.monitor import load_traffic
    from harness.store.records import TrafficFile

    row = TrafficFile(variant=variant, file_sha256=result.sha256, path=str(result.path.resolve()),
                      format=result.format, mapping=mapping.given or None, n_read=result.n_read,
                      n_skipped=result.n_skipped,
                      skipped=[{"line": ln, "error": msg} for ln, msg in result.skipped] or None,
                      ts_min=result.ts_min, ts_max=result.ts_max)
    added = load_traffic(store, str(result.staged) if result.n_read else None, row)
    if added is None:
        result.already = True  # another process loaded it meanwhile
        return
    result.n_added, result.n_duplicates = added, result.n_read - added


def ingest_files(store: Store, paths: list[str | Path], variant: str, mapping: TrafficMapping | None = None,
           skip_bad: bool = False, batch: int = BATCH,
           progress: Callable[[int], None] | None = None) -> list[FileResult]:
    """Ingest traffic files for ``variant`` (see the module docstring). Raises ``DataError`` on a bad line
    (nothing loaded), ``MedtuneError`` on a missing file."""
    mapping = mapping or TrafficMapping()
    if not variant or not variant.strip():
        raise MedtuneError("--variant: give the name of the deployed variant")
    files = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise MedtuneError(f"{path}: no such file")
        if path.is_dir():
            raise MedtuneError(f"{path}: is a folder, expected a JSONL or Parquet traffic file")
        if not path.is_file():
            raise MedtuneError(f"{path}: not a regular file (a FIFO or device?)")
        files.append(path)
    store.check()
    results: list[FileResult] = []
    seen: dict[str, FileResult] = {}
    done = ingested_files(store, variant)
    folder = store.path.resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for path in files:
            sha = file_sha256(path)
            result = FileResult(path=path, sha256=sha, format=file_format(path))
            results.append(result)
            if sha in done or sha in seen:
                result.already = True
                continue
            seen[sha] = result
            _stage(path, result, variant, mapping, skip_bad, folder, batch, progress)
        for result in results:
            if not result.already:
                _load(store, result, variant, mapping)
    finally:
        for result in results:
            if result.staged is not None:
                with contextlib.suppress(OSError):
                    result.staged.unlink()
    return results
