"""Entity-level strict F1: our counts agree with seqeval; CIs over sentences; label checks."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from harness.errors import MedtuneError
from suites import load_suite
from suites._types.ner import entities, prf_from_counts

TAGS = ["O", "O", "O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]


def random_corpus(seed: int, n: int = 60):
    rng = random.Random(seed)
    gold, pred = [], []
    for _ in range(n):
        length = rng.randint(1, 12)
        g = [rng.choice(TAGS) for _ in range(length)]
        # predictions: mostly the gold tag, sometimes another (I- after O included: strict mode drops it)
        gold.append(g)
        pred.append([t if rng.random() < 0.7 else rng.choice(TAGS) for t in g])
    return gold, pred


def score_all(suite, gold, pred):
    suite.type._labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    docs = [{"id": f"s{i}", "words": [f"w{j}" for j in range(len(g))], "tags": g} for i, g in enumerate(gold)]
    return [suite.type.score(d, {"token_labels": [p]}) for d, p in zip(docs, pred)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corpus_scores_from_counts_equal_seqeval(seed):
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.metrics.v1 import precision_recall_fscore_support
    from seqeval.scheme import IOB2

    gold, pred = random_corpus(seed)
    samples = score_all(load_suite("ner_bc5cdr"), gold, pred)
    metrics = {m.name: m for m in load_suite("ner_bc5cdr").type.aggregate(samples)}
    kw = {"mode": "strict", "scheme": IOB2}
    assert metrics["f1"].value == pytest.approx(f1_score(gold, pred, **kw))
    assert metrics["precision"].value == pytest.approx(precision_score(gold, pred, **kw))
    assert metrics["recall"].value == pytest.approx(recall_score(gold, pred, **kw))
    p, r, f, _ = precision_recall_fscore_support(gold, pred, average=None, **kw)
    for i, t in enumerate(["Chemical", "Disease"]):  # seqeval orders types by name
        assert (metrics[f"precision_{t}"].value, metrics[f"recall_{t}"].value, metrics[f"f1_{t}"].value) == \
            pytest.approx((p[i], r[i], f[i]))
    for m in metrics.values():
        if m.ci_low is not None:
            assert m.ci_low <= m.value + 1e-9 and m.value <= m.ci_high + 1e-9 and m.n == len(gold)


def test_sample_keeps_the_sentence_for_drill_down():
    samples = score_all(load_suite("ner_bc5cdr"), [["B-Chemical", "I-Chemical", "O", "B-Disease"]],
                        [["B-Chemical", "I-Chemical", "O", "O"]])
    s = samples[0]
    assert s.scores["tp"] == 1 and s.scores["fn"] == 1 and s.scores["fp"] == 0 and s.scores["fn_Disease"] == 1
    assert s.record["entities"]["gold"][1] == {"type": "Disease", "start": 3, "end": 4, "text": "w3"}
    assert s.record["predicted"] == ["B-Chemical", "I-Chemical", "O", "O"] and s.correct is False
    assert s.score == pytest.approx(2 / 3)


def test_entities_are_strict_iob2_chunks():
    assert entities(["B-Disease", "I-Disease", "O", "I-Disease"]) == {("Disease", 0, 2)}  # a stray I- is no entity
    p, r, f = prf_from_counts(np.array([0]), np.array([0]), np.array([0]))
    assert (p, r, f) == (0, 0, 0)


def test_repairs_are_reported_in_metrics_and_stderr(capsys):
    suite = load_suite("ner_ncbi_disease")
    suite.type._labels = ["O", "B-Disease", "I-Disease"]
    doc = {"id": "t:1", "words": ["a", "b"], "tags": ["O", "B-Disease"], "repairs": ["t.tsv:2 I-Disease->B-Disease"]}
    metrics = {m.name: m for m in suite.type.aggregate([suite.type.score(doc, {"token_labels": [["O", "B-Disease"]]})])}
    assert metrics["repairs"].value == 1
    assert "1 IOB2 repair(s)" in capsys.readouterr().err


def test_model_labels_must_match_the_data():
    suite = load_suite("ner_ncbi_disease")
    docs = [{"id": "a", "words": ["fever"], "tags": ["B-Disease"]}]
    lm = SimpleNamespace(info=SimpleNamespace(name="m", extra={"labels": ["LABEL_0", "LABEL_1"]}))
    with pytest.raises(MedtuneError, match="no trained NER head"):
        suite.type.check_model(lm, docs)
    lm.info.extra["labels"] = ["O", "B-Chemical", "I-Chemical"]
    with pytest.raises(MedtuneError, match=r"predicts labels \['B-Chemical'"):
        suite.type.check_model(lm, docs)
    suite.type._labels = ["O", "B-Disease", "I-Disease"]
    with pytest.raises(MedtuneError, match="predicts label 'B-Chemical', not in the data's label set"):
        suite.type.score(docs[0], {"token_labels": [["B-Chemical"]]})
