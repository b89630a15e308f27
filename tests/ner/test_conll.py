"""The CoNLL reader on the real files and on broken ones: errors name file:line, repairs are counted."""

from __future__ import annotations

import pytest

from harness.errors import DataError
from suites import load_suite
from suites.ner.conll import read_conll
from tests.ner.conftest import FILES


@pytest.mark.parametrize("corpus", sorted(FILES))
def test_real_files_read_as_published(ner_data, corpus):
    for split in ("train", "devel", "test"):
        c = read_conll(ner_data / "ner" / corpus / f"{split}.tsv")
        assert c.sentences and not c.repairs
        assert all(len(s.words) == len(s.tags) > 0 for s in c.sentences)
    assert read_conll(ner_data / "ner" / corpus / "train.tsv").labels == FILES[corpus]


def test_first_ncbi_sentence(ner_data):
    s = read_conll(ner_data / "ner" / "ncbi_disease" / "train.tsv").sentences[0]
    assert s.line == 1 and s.words[:3] == ["Identification", "of", "APC2"]
    assert s.tags[8:11] == ["B-Disease", "I-Disease", "I-Disease"]


def write(tmp_path, text, name="bad.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "Aspirin\tB-Chemical\n\nThe\tO\nfever O\n")
    with pytest.raises(DataError, match=r"bad\.tsv:4: expected 2 tab-separated columns \(token, tag\), found 1"):
        read_conll(path)


def test_tag_outside_iob2_and_unknown_label(tmp_path):
    with pytest.raises(DataError, match=r"bad\.tsv:2: tag 'E-Disease' is not IOB2"):
        read_conll(write(tmp_path, "a\tO\nb\tE-Disease\n"))
    with pytest.raises(DataError, match=r"bad\.tsv:1: unknown tag 'B-Gene'"):
        read_conll(write(tmp_path, "BRCA1\tB-Gene\n"), labels=["O", "B-Disease", "I-Disease"])


def test_i_after_o_is_repaired_and_counted(tmp_path):
    path = write(tmp_path, "a\tO\nfever\tI-Disease\nand\tO\n\nrash\tI-Disease\nx\tB-Chemical\ny\tI-Disease\n")
    c = read_conll(path)
    assert c.sentences[0].tags == ["O", "B-Disease", "O"]
    assert c.sentences[1].tags == ["B-Disease", "B-Chemical", "B-Disease"]
    assert c.repairs == [(2, "I-Disease", "B-Disease"), (5, "I-Disease", "B-Disease"), (7, "I-Disease", "B-Disease")]


@pytest.mark.parametrize("text", ["", "\n\n\n"])
def test_empty_file_is_an_error(tmp_path, text):
    with pytest.raises(DataError, match=r"bad\.tsv: no sentences"):
        read_conll(write(tmp_path, text))


def test_suites_read_their_splits(ner_data):
    suite = load_suite("ner_bc5cdr")
    docs = suite.docs(ner_data)
    assert len(docs) == 12 and docs[0]["id"] == "test.tsv:1" and docs[0]["repairs"] == []
    assert len(suite.load_docs(ner_data, split="train")) == 40
    assert suite.type.labels(docs) == FILES["bc5cdr"]
    assert load_suite("ner_ncbi_disease").spec.family == "ner"


def test_eval_cli_refuses_a_broken_file_before_loading_a_model(capsys, tmp_path):
    from tests.harness.clihelp import run_cli

    (tmp_path / "ner" / "ncbi_disease").mkdir(parents=True)
    (tmp_path / "ner" / "ncbi_disease" / "test.tsv").write_text("fever\tB-Disease\n\nrash\tB-Disease\tX\n")
    code, out, err = run_cli(capsys, "eval", "--variant", "minilm-l6", "--suite", "ner_ncbi_disease",
                             "--db", str(tmp_path / "r.duckdb"), "--data-root", str(tmp_path))
    assert code == 2 and "test.tsv:3: expected 2 tab-separated columns" in err and "Traceback" not in err
    assert not (tmp_path / "r.duckdb").exists()
