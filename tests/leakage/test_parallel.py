"""The contamination scan on threads gives the rows of one thread; a scan state travels compactly (dask); the
index's shingle side built on a second thread equals one built in line."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from harness import corpus
from harness.leakage import parallel
from harness.leakage.contamination import contamination
from harness.leakage.index import ContaminationIndex, Item

def _items(k=40, seed=5):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(600)]
    return [Item("s", str(i), " ".join(rng.choice(vocab, 30))) for i in range(k)]


def _corpus(tmp_path, items):
    rng = np.random.default_rng(6)
    lines = [" ".join(rng.choice([f"f{i}" for i in range(300)], 20)) for _ in range(400)]
    for at, i in ((30, 3), (150, 11), (390, 25)):
        lines[at] = items[i].text
    for at in range(60, 400, 25):  # item 3 again in most blocks, item 11 in later ones: the first source is kept
        lines[at] = items[3].text
        lines[at + 1] = items[11].text
    for at in (370, 395):  # item 30 only in the last blocks: the earlier of the two is its source
        lines[at] = items[30].text
    near = items[17].text.split()
    lines[260] = " ".join(w if k % 9 else "zz" for k, w in enumerate(near))  # a near duplicate
    lines[270] = items[8].text.split(" ", 12)[-1] + " and unseen words tail"  # a partial one
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_threads_give_the_rows_of_one(tmp_path, monkeypatch):
    items = _items()
    path = _corpus(tmp_path, items)
    one, s1 = contamination(items, corpus_specs=[str(path)], workers=1)
    monkeypatch.setattr(parallel, "PARALLEL_BLOCK_CHARS", 2000)  # many blocks, so both threads scan some
    calls = []
    scan = parallel.scan_blocks
    monkeypatch.setattr(parallel, "scan_blocks", lambda *a, **k: calls.append(a[2]) or scan(*a, **k))
    two, s2 = contamination(items, corpus_specs=[str(path)], workers=2)
    assert calls == [2] and len(list(corpus.blocks([path], block_chars=2000))) > 10
    assert two == one
    assert (s2.documents, s2.bytes, s2.sketched) == (s1.documents, s1.bytes, s1.sketched)
    flagged = {r["doc_id"]: r["matched_source"] for r in one if r["contaminated"]}
    assert flagged["3"] == f"{path}:31" and flagged["11"] == f"{path}:62" and "17" in flagged
    assert flagged["30"] == f"{path}:371"


def test_a_scan_state_pickles_to_the_same_state_and_small():
    items = _items()
    index = ContaminationIndex(items, cache=False)
    from harness.leakage.text import Document

    state = index.scan_blocks([next(iter(corpus.documents_to_blocks([Document("c:1", items[2].text)])))])
    back = pickle.loads(pickle.dumps(state))
    assert np.array_equal(back.best, state.best) and np.array_equal(back.seen, state.seen)
    assert back.found == state.found and back.best_src == state.best_src
    assert len(pickle.dumps(state)) < state.seen.nbytes + state.best.nbytes


def test_an_index_built_on_two_threads_equals_one_built_on_one(monkeypatch):
    from harness.leakage import index as index_module

    items = _items(k=60)
    one = ContaminationIndex(items, cache=False, workers=1)._build()
    monkeypatch.setattr(index_module, "CACHE_MIN_CHARS", 0)  # small as it is, build it as a big one
    threads = []
    background = index_module.Background
    monkeypatch.setattr(index_module, "Background", lambda fn, use: threads.append(use) or background(fn, use))
    two = ContaminationIndex(items, cache=False, workers=2)._build()
    assert threads == [True, True]  # the constructor's build and this one
    assert one.keys() == two.keys()
    for name in one:
        assert np.array_equal(one[name], two[name]), name


def test_a_background_build_error_reaches_the_caller():
    from harness.leakage.background import Background

    def fail():
        raise ValueError("bad shingles")

    with pytest.raises(ValueError, match="bad shingles"):
        Background(fail).get()
    assert Background(lambda: 7).get() == 7 and Background(lambda: 8, use=False).get() == 8


def test_a_failed_build_leaves_no_thread_computing(monkeypatch):
    """The n-gram side fails while the shingle side runs on its thread: the error goes up after that thread ended."""
    import threading
    import time

    from harness.leakage import index as index_module

    monkeypatch.setattr(index_module, "CACHE_MIN_CHARS", 0)
    ended = []
    shingles = ContaminationIndex._build_shingles

    def slow(self, *a):
        time.sleep(0.3)
        ended.append(True)
        return shingles(self, *a)

    def fail(self, *a):
        raise MemoryError("no room for the n-grams")

    monkeypatch.setattr(ContaminationIndex, "_build_shingles", slow)
    monkeypatch.setattr(ContaminationIndex, "_build_grams", fail)
    with pytest.raises(MemoryError):
        ContaminationIndex(_items(), cache=False, workers=2)
    assert ended and not [t for t in threading.enumerate() if t.name == "medtune-index-build"]

