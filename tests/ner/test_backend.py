"""The encoder backend: words -> first-subword labels, long sentences windowed, end-to-end eval."""

from __future__ import annotations

import pytest

from harness import contract
from harness.models import load, resolve
from harness.models.hf_encoder import word_windows
from harness.store import Store
from tests.harness.clihelp import run_cli

WORDS = "Identification of APC2 , a homologue of the adenomatous polyposis coli tumour suppressor .".split()


def tokenizer_of(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def test_windows_split_between_words_and_drop_none(tiny_encoder):
    tok = tokenizer_of(tiny_encoder)
    sentence = WORDS * 3 + ["\u200b"]  # a word with no subword at all gets [UNK]
    (wins,) = word_windows(tok, [sentence], max_length=12)
    assert len(wins) > 3
    assert [w for win in wins for w in win.words] == list(range(len(sentence)))
    for win in wins:
        assert len(win.input_ids) <= 12 and win.input_ids[0] == tok.cls_token_id and win.input_ids[-1] == tok.sep_token_id
        assert len(win.first) == len(win.words)
    assert wins[-1].input_ids[wins[-1].first[-1]] == tok.unk_token_id
    (whole,) = word_windows(tok, [WORDS], max_length=128)
    assert len(whole) == 1 and whole[0].input_ids[whole[0].first[2]] == tok(["APC2"], is_split_into_words=True,
                                                                              add_special_tokens=False)["input_ids"][0]


def test_backend_labels_every_word(tiny_tagger):
    lm = load(resolve(str(tiny_tagger)), device="cpu", batch_size=2)
    assert lm.supports("token_labels") and not lm.supports("loglikelihood")
    assert lm.info.kind == "encoder" and lm.info.extra["labels"] == ["O", "B-Disease", "I-Disease"]
    lm.max_length = 10  # force several windows per sentence
    sents = [WORDS, WORDS[:2], ["x"]]
    out = lm.token_labels([contract.token_labels(i, s) for i, s in enumerate(sents)])
    assert [len(o) for o in out] == [len(s) for s in sents]
    assert {t for o in out for t in o} <= {"O", "B-Disease", "I-Disease"}


def test_eval_cli_writes_metrics_and_sentences(capsys, tmp_path, tiny_tagger, ner_data):
    db = tmp_path / "r.duckdb"
    code, out, err = run_cli(capsys, "eval", "--variant", str(tiny_tagger), "--suite", "ner_ncbi_disease",
                             "--db", str(db), "--data-root", str(ner_data), "--device", "cpu")
    assert code == 0, err
    store = Store(db)
    metrics = store.query("SELECT metric, value, ci_low, ci_high, n FROM metrics").set_index("metric")
    assert {"f1", "precision", "recall", "repairs"} <= set(metrics.index) and metrics.loc["f1", "n"] == 12
    row = store.query("SELECT target, prediction, record FROM samples ORDER BY sample_idx LIMIT 1").iloc[0]
    assert row.target.split()[8] == "B-Disease" or "Disease" in row.target
    assert '"words"' in row.record and '"entities"' in row.record


def test_model_without_ner_head_is_refused(capsys, tmp_path, tiny_encoder, ner_data):
    code, _, err = run_cli(capsys, "eval", "--variant", str(tiny_encoder), "--suite", "ner_ncbi_disease",
                           "--db", str(tmp_path / "r.duckdb"), "--data-root", str(ner_data), "--device", "cpu")
    assert code == 2 and "LABEL_" in err and "Traceback" not in err
    assert not (tmp_path / "r.duckdb").exists() or Store(tmp_path / "r.duckdb").query(
        "SELECT count(*) AS n FROM runs").n[0] == 0
