"""harness.corpus: files, folders, globs; txt / jsonl / parquet, plain, gzip, zstd; sources with lines;
and the dask engine giving the rows of one process."""

from __future__ import annotations

import gzip
import json

import pytest

from harness import corpus
from harness.errors import MedtuneError
from harness.leakage.contamination import contamination
from harness.leakage.index import Item

ITEM = " ".join(f"tok{i}" for i in range(30))


def _write_all(root):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    (root / "a").mkdir()
    (root / "a" / "one.txt").write_text("first line\n\nthird line " + ITEM + "\n")
    recs = [{"text": "hello there", "id": 1}, {"body": "x", "text": "multi\nline " + ITEM[:40]}]
    with gzip.open(root / "a" / "two.jsonl.gz", "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in recs) + "\n")
    (root / "b.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(("zst doc\n" + ITEM + "\n").encode()))
    pq.write_table(pa.table({"content": ["row zero", ITEM]}), root / "c.parquet")


def test_layouts_formats_and_sources(tmp_path):
    _write_all(tmp_path)
    docs = list(corpus.documents([tmp_path / "a", str(tmp_path / "*.zst")]))
    assert [d.source.replace(str(tmp_path) + "/", "") for d in docs] == [
        "a/one.txt:1", "a/one.txt:3", "a/two.jsonl.gz:1", "a/two.jsonl.gz:2", "b.txt.zst:1", "b.txt.zst:2"]
    assert docs[3].text.startswith("multi line")
    pq = list(corpus.documents([tmp_path / "c.parquet"], text_field="content"))
    assert [d.source.rsplit("/", 1)[1] for d in pq] == ["c.parquet#0", "c.parquet#1"] and pq[1].text == ITEM
    with pytest.raises(MedtuneError, match="no column 'text'"):
        list(corpus.documents([tmp_path / "c.parquet"]))
    with pytest.raises(MedtuneError, match="no such file"):
        corpus.expand([tmp_path / "missing.txt"])
    with pytest.raises(MedtuneError, match="matches no file"):
        corpus.expand([str(tmp_path / "*.nothing")])


def test_audit_rows_from_every_format(tmp_path):
    _write_all(tmp_path)
    items = [Item("s", "1", ITEM)]
    rows, stats = contamination(items, corpus_specs=[str(tmp_path / "**" / "*.txt"), str(tmp_path / "c.parquet")],
                                text_field="content")
    assert rows[0]["contaminated"] and rows[0]["matched_source"].endswith("a/one.txt:3")
    assert stats.documents == 4  # one.txt (2) and the parquet rows (2)


def test_dask_engine_same_rows_as_one_process(tmp_path):
    pytest.importorskip("distributed")
    for k in range(3):
        lines = [f"shard {k} filler line {i} with some words" for i in range(40)]
        lines[5 + k] = ITEM if k == 1 else ITEM[: 20 + k]
        (tmp_path / f"s{k}.txt").write_text("\n".join(lines) + "\n")
    items = [Item("s", "1", ITEM), Item("s", "2", "filler line 3 with some words and nothing else at all here ok")]
    local, s1 = contamination(items, corpus_specs=[str(tmp_path)])
    dist, s2 = contamination(items, corpus_specs=[str(tmp_path)], engine="dask", workers=2)
    assert local == dist and s1.documents == s2.documents == 120
    assert local[0]["matched_source"].endswith("s1.txt:7")
