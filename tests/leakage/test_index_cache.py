"""The built index cached on disk, the vectorised LSH banding, and a scan state that does not grow with the corpus."""

from __future__ import annotations

import numpy as np

from harness.leakage import index_cache
from harness.leakage.contamination import rows_of
from harness.leakage.index import BandLSH, ContaminationIndex, Item, as_blocks
from harness.leakage.text import Document


def _items(k=30, seed=3):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]
    return [Item("s", str(i), " ".join(rng.choice(vocab, 30))) for i in range(k)]


def _docs(items):
    words = items[4].text.split()
    edited = " ".join(w if k % 7 else "zz" for k, w in enumerate(items[9].text.split()))
    return [Document("c:1", "nothing to see here at all today"), Document("c:2", " ".join(words[:20])),
            Document("c:3", edited), Document("c:4", items[12].text)]


def _rows(index, items, docs):
    results, _ = index.scan(docs)
    return rows_of(items, results, 0.5, 0.0)


def test_cached_index_gives_the_same_rows_and_a_torn_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTUNE_CACHE", str(tmp_path))
    items, docs = _items(), _docs(_items())
    cold = ContaminationIndex(items, cache=True)
    assert not cold.cache_hit and index_cache.path_of(cold).exists()
    warm = ContaminationIndex(items, cache=True)
    assert warm.cache_hit
    assert _rows(cold, items, docs) == _rows(warm, items, docs) == _rows(ContaminationIndex(items, cache=False), items, docs)
    # another setting or another text is another key
    assert index_cache.key(ContaminationIndex(items, n=8, cache=False)) != index_cache.key(cold)
    changed = items[:-1] + [Item("s", "29", items[-1].text + " more")]
    assert index_cache.key(ContaminationIndex(changed, cache=False)) != index_cache.key(cold)
    index_cache.path_of(cold).write_bytes(b"PK torn")
    again = ContaminationIndex(items, cache=True)
    assert not again.cache_hit and _rows(again, items, docs) == _rows(cold, items, docs)
    assert ContaminationIndex(items, cache=True).cache_hit  # rewritten whole


def test_band_lsh_retrieves_what_datasketch_retrieves():
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    scheme = MinHash(num_perm=64, seed=1).scheme

    rng = np.random.default_rng(0)
    items = rng.integers(0, 6, (300, 64)).astype(np.uint32)  # few values: many band collisions
    queries = np.vstack([items[:20], rng.integers(0, 6, (80, 64)).astype(np.uint32)])
    ids = np.arange(300) * 2 + 1
    ours = BandLSH(items, ids, 0.3, 64)
    q, got, jac = ours.query(queries)
    lsh = MinHashLSH(threshold=0.3, num_perm=64)
    for i, s in zip(ids.tolist(), items):
        lsh.insert(i, LeanMinHash(seed=1, hashvalues=s, scheme=scheme))
    want = {(k, i) for k, s in enumerate(queries) for i in lsh.query(LeanMinHash(seed=1, hashvalues=s, scheme=scheme))}
    assert set(zip(q.tolist(), got.tolist())) == want and len(want) == len(q) > 100
    for k, i, j in zip(q.tolist(), got.tolist(), jac.tolist()):
        assert j == np.mean(queries[k] == items[(i - 1) // 2])


def test_scan_state_does_not_grow_with_the_corpus():
    items = _items()
    index = ContaminationIndex(items, cache=False)
    near = Document("c:0", " ".join(w if k % 7 else "zz" for k, w in enumerate(items[9].text.split())))

    def state(copies):
        return index.scan_blocks(as_blocks([near] * copies))

    small, big = state(10), state(1000)
    assert big.stats.sketched == 100 * small.stats.sketched > 0
    assert big.best_src == small.best_src == {9: "c:0"}
    assert big.best.nbytes == small.best.nbytes and big.seen.nbytes == small.seen.nbytes
