"""Known answers: verbatim and lightly edited suite items planted in a corpus (real suite items)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from harness.leakage.contamination import contamination, split_overlap, suite_items
from harness.leakage.index import ContaminationIndex, Item
from harness.leakage.planted import plant
from harness.leakage.text import Document, item_text, normalize

CLEAN = [
    "The nucleoli were detected with an anti-nucleolin antibody on cells fixed in formalin for ten minutes.",
    "Transcription factors bind promoter regions and recruit the polymerase complex to start transcription.",
    "Samples were centrifuged at high speed and the supernatant was stored at minus eighty degrees until use.",
    "Expression of the reporter gene was measured by luciferase assay in three independent experiments.",
] * 50


@pytest.fixture(scope="module")
def items(data_root):
    found, skipped = suite_items(data_root, ["medqa_usmle", "pubmedqa", "mmlu_medical"])
    assert not skipped
    return found


def _corpus(items, verbatim, edited, rng):
    return plant([Document(f"clean:{i}", t) for i, t in enumerate(CLEAN)], items, verbatim, edited, rng)


def test_known_answers(items):
    rng = random.Random(0)
    picks = rng.sample(range(len(items)), 40)
    verbatim, edited = picks[:20], picks[20:]
    rows, stats = contamination(items, _corpus(items, verbatim, edited, rng))
    assert stats.documents == len(CLEAN) + 40
    flagged = {i for i, r in enumerate(rows) if r["contaminated"]}
    assert set(verbatim) <= flagged, "every verbatim copy is flagged"
    for i in verbatim:
        assert rows[i]["ngram_overlap"] == 1.0 and rows[i]["matched_source"] == f"verbatim:{i}"
    score = np.array([max(r["ngram_overlap"], r["near_dup_jaccard"]) for r in rows])
    clean = np.setdiff1d(np.arange(len(items)), picks)
    assert score[edited].min() > score[clean].max(), "every edited copy ranks above every clean item"
    assert sum(rows[i]["contaminated"] for i in edited) >= 15, "most light edits are also flagged"


def test_clean_corpus_flags_nothing(items):
    rows, _ = contamination(items, [Document(f"c:{i}", t) for i, t in enumerate(CLEAN)])
    assert not any(r["contaminated"] for r in rows)
    assert max(r["ngram_overlap"] for r in rows) == 0.0


def test_n_is_settable_and_short_items_match_whole():
    nine = "alpha beta gamma delta epsilon zeta eta theta iota"
    items = [Item("s", "a", nine), Item("s", "b", " ".join(f"w{i}" for i in range(30))),
             Item("s", "c", "Methods"), Item("s", "d", "Results .")]
    docs = [Document("d:1", f"x {nine.upper()}! y"), Document("d:2", " ".join(f"w{i}" for i in range(10))),
            Document("d:3", "Methods and results were reported"), Document("d:4", "RESULTS")]
    rows, _ = contamination(items, docs, n=13)
    assert rows[0]["contaminated"] and rows[0]["ngram_overlap"] == 1.0  # shorter than n: the whole item as one n-gram
    assert not rows[1]["contaminated"]  # 10 shared words < 13
    assert not rows[2]["contaminated"]  # a very short item counts only as a whole document...
    assert rows[3]["contaminated"] and rows[3]["matched_source"] == "d:4"  # ...which d:4 is
    rows, _ = contamination(items, docs, n=5)
    assert rows[1]["contaminated"] and rows[1]["ngram_overlap"] == pytest.approx(6 / 26)


def test_ngrams_do_not_cross_documents():
    items = [Item("s", "a", "one two three four five six")]
    rows, _ = contamination(items, [Document("d:1", "one two three"), Document("d:2", "four five six")], n=13)
    assert not rows[0]["contaminated"]


def test_signatures_match_datasketch():
    from datasketch import MinHash

    index = ContaminationIndex([Item("s", "a", "the quick brown fox jumps over the lazy dog again")], num_perm=64)
    ref = MinHash(num_perm=64, seed=1, hashfunc=int)
    ws = normalize("the quick brown fox jumps over the lazy dog again").split()
    from harness.leakage.index import gram_hashes

    sh = gram_hashes(index.hasher(ws), {3})[3] >> np.uint64(32)
    ref.update_batch(sh.astype(np.uint32).tolist())
    assert np.array_equal(index.signatures[0], ref.hashvalues)


def test_item_text_covers_fields():
    assert item_text({"question": "Q?", "choices": ["a", "b"]}) == "Q? a b"
    assert "Abs" in item_text({"question": "Q?", "abstract": "Abs", "choices": ["yes"]})
    assert item_text({"words": ["BRCA1", "mutations"]}) == "BRCA1 mutations"


def test_split_overlap_real_suites(data_root):
    rows = {r["suite"]: r for r in split_overlap(data_root, ["pubmedqa", "mmlu_medical"])}
    assert rows["pubmedqa"]["split_a"] == "train" and rows["pubmedqa"]["n_b"] == 500
    assert rows["pubmedqa"]["exact"] == 0  # the official split is disjoint
    # MMLU: five clinical_knowledge / college_medicine test questions are copies of the other's dev items
    assert rows["mmlu_medical"]["exact"] == 5 and rows["mmlu_medical"]["near"] >= 5


def test_sft_lineage_reads_pubmedqa_train_split(data_root):
    from harness.leakage import lineage
    from harness.leakage.audit import Settings, membership_texts
    from suites import load_suite

    path = str(data_root / "pubmedqa" / "ori_pqal.json")
    train_ids = [d["id"] for d in load_suite("pubmedqa").load_docs(data_root, split="train")]
    src = lineage.Source("sft-variant", path, "train", "pubmedqa", None, eval_ids=set(train_ids[:5]))
    docs = list(lineage.documents(src))
    assert len(docs) == 495 and all("Answer (yes, no or maybe):" in d.text for d in docs)
    assert docs[0].text.rstrip().endswith(("yes", "no", "maybe"))
    members, nonmembers, _, n_src = membership_texts([src], Settings(mia_limit=50))
    assert len(members) == len(nonmembers) == 50 and "official test" in n_src
    items, _ = suite_items(data_root, ["pubmedqa"])
    rows, _ = contamination(items, docs)
    assert not any(r["contaminated"] for r in rows)  # the official test split is not in the train split
