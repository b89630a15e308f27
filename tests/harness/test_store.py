import multiprocessing as mp

import pytest

from harness.store import SCHEMA_VERSION, Store
from harness.store.variants import get_variant, list_variants, register_variant


def test_schema_is_created_and_versioned(db):
    store = Store(db)
    store.init()
    assert store.schema_version() == SCHEMA_VERSION
    tables = set(store.query("SELECT table_name FROM information_schema.tables")["table_name"])
    assert {"variants", "suites", "runs", "metrics", "samples", "schema_version"} <= tables
    store.init()  # migrating twice is a no-op
    assert len(store.query("SELECT * FROM schema_version")) == len(store.query("SELECT DISTINCT version FROM schema_version"))


def test_failed_transaction_writes_nothing(db):
    store = Store(db)
    store.init()
    with pytest.raises(RuntimeError):
        with store.connect(write=True) as con:
            register_variant(store, "half", "/x", "causal", con=con)
            raise RuntimeError("interrupted mid-write")
    assert get_variant(store, "half") is None


def test_lineage_base_follows_parent(db):
    store = Store(db)
    register_variant(store, "base-model", "/m", "causal")
    register_variant(store, "child", "/c", "causal", method="lora", parent="base-model", lineage={"seed": 1})
    register_variant(store, "grandchild", "/g", "causal", method="full", parent="child")
    rows = {v["name"]: v for v in list_variants(store)}
    assert rows["grandchild"]["base"] == "base-model"
    assert rows["child"]["lineage"] == {"seed": 1}


def _writer(path, prefix, n):
    store = Store(path)
    for i in range(n):
        register_variant(store, f"{prefix}-{i}", f"/p/{i}", "causal")


def _reader(path, n, out):
    store = Store(path)
    seen = 0
    for _ in range(n):
        seen = max(seen, len(store.query("SELECT * FROM variants")))
    out.put(seen)


def test_two_writers_and_a_reader_lose_nothing(db):
    Store(db).init()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(db, "a", 25)), ctx.Process(target=_writer, args=(db, "b", 25)),
             ctx.Process(target=_reader, args=(db, 40, q))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert q.get(timeout=5) >= 0
    assert len(list_variants(Store(db))) == 50
