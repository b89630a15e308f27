import json

import pytest

from harness.errors import ConfigError, DataError, MedtuneError
from suites import list_suites, load_suite

QA = ["medqa_usmle", "medmcqa", "pubmedqa", "pubmedqa_noabstract", "mmlu_medical", "mmlu_medical_5shot"]


def test_every_shipped_suite_loads_and_has_a_version():
    for name in list_suites():
        suite = load_suite(name)
        assert len(suite.version) == 16, name


@pytest.mark.parametrize("name,n_docs,n_choices", [("medqa_usmle", 1273, 4), ("pubmedqa", 500, 3),
                                                   ("mmlu_medical", 1089, 4), ("medmcqa", None, 4)])
def test_qa_suites_read_the_published_files(data_root, name, n_docs, n_choices):
    docs = load_suite(name).docs(data_root)
    if n_docs:
        assert len(docs) == n_docs
    assert all(len(d["choices"]) == n_choices and 0 <= d["gold"] < n_choices for d in docs[:50])
    assert len({d["id"] for d in docs}) == len(docs)


def test_medmcqa_single_by_default_multi_on_request(data_root):
    single = load_suite("medmcqa").docs(data_root)
    both = load_suite("medmcqa", {"multi": True}).docs(data_root)
    assert all(d["choice_type"] == "single" for d in single)
    assert len(both) == 4183 > len(single)


def test_pubmedqa_uses_the_official_test_ids_and_train_is_disjoint(data_root):
    suite = load_suite("pubmedqa")
    test_ids = set(json.loads((data_root / "pubmedqa/test_ground_truth.json").read_text()))
    docs = suite.docs(data_root)
    train = suite.load_docs(data_root, split="train")
    assert {d["id"] for d in docs} == test_ids
    assert len(train) == 500 and not ({d["id"] for d in train} & test_ids)
    assert "Abstract:" in suite.prompt(docs[0])
    assert "Abstract:" not in load_suite("pubmedqa_noabstract").prompt(docs[0])


def test_mmlu_five_shot_uses_the_subject_dev_examples(data_root):
    suite = load_suite("mmlu_medical_5shot")
    doc = suite.docs(data_root)[0]
    prompt = suite.prompt(doc)
    assert prompt.startswith("The following are multiple choice questions (with answers) about anatomy.")
    assert prompt.count("Question:") == 6
    two = load_suite("mmlu_medical", num_fewshot=2)
    assert two.prompt(two.docs(data_root, limit=1)[0]).count("Question:") == 3


def test_letter_style_lists_options_and_scores_letters(data_root):
    suite = load_suite("medqa_usmle", {"choice_style": "letter"})
    doc = suite.docs(data_root, limit=1)[0]
    assert "\nA. " in suite.prompt(doc) and suite.type.continuations(doc) == [" A", " B", " C", " D"]


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    (tmp_path / "medqa_usmle").mkdir()
    good = {"question": "q", "options": {"A": "a", "B": "b"}, "answer_idx": "A"}
    (tmp_path / "medqa_usmle/test.jsonl").write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataError, match=r"test.jsonl:2: malformed JSON"):
        load_suite("medqa_usmle").docs(tmp_path)
    (tmp_path / "medqa_usmle/test.jsonl").write_text(json.dumps({"question": "q", "options": {"A": "a"}}) + "\n")
    with pytest.raises(DataError, match=r"test.jsonl:1: field 'answer_idx' is missing"):
        load_suite("medqa_usmle").docs(tmp_path)


def test_malformed_csv_row_names_file_and_line(tmp_path):
    (tmp_path / "mmlu_medical/test").mkdir(parents=True)
    (tmp_path / "mmlu_medical/test/anatomy_test.csv").write_text("q,a,b,c,d,A\nq2,a,b,c,A\n")
    with pytest.raises(DataError, match=r"anatomy_test.csv:2: expected 6 columns, found 5"):
        load_suite("mmlu_medical", {"subjects": ["anatomy"]}).docs(tmp_path)


def test_suite_file_errors_name_the_field(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: broken\nfamily: x\ntype: multiple_choice\nprocess_docs: qa.utils:medqa\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: field 'data' is required"):
        load_suite(str(bad))
    bad.write_text("name: b\nfamily: x\ntype: multiple_choice\nprocess_docs: qa.utils:medqa\ndata: {path: x}\nprompt: 1\n")
    with pytest.raises(ConfigError, match=r"field 'prompt' is not a known field"):
        load_suite(str(bad))


def test_unknown_suite_and_option():
    with pytest.raises(MedtuneError, match="unknown suite 'nope'"):
        load_suite("nope")
    with pytest.raises(MedtuneError, match="unknown option 'shots'"):
        load_suite("medqa_usmle", {"shots": 3})


def test_changing_a_suite_changes_its_version(tmp_path):
    import shutil

    from suites import SUITES_DIR

    for f in ("_mc_base.yaml", "medqa_usmle.yaml"):
        shutil.copy(SUITES_DIR / "qa" / f, tmp_path / f)
    v1 = load_suite(str(tmp_path / "medqa_usmle.yaml")).version
    (tmp_path / "_mc_base.yaml").write_text((tmp_path / "_mc_base.yaml").read_text().replace("Answer:", "A:"))
    assert load_suite(str(tmp_path / "medqa_usmle.yaml")).version != v1
