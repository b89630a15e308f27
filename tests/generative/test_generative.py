"""The generative suite type on the shipped suites' real data, with a scripted backend."""

import textwrap

import pytest

from harness.engine import run_suite
from harness.errors import MedtuneError
from suites import load_suite
from tests.generative.fakes import CHAT, FakeGen


def _answers(mapping, default="I am not sure."):
    def answer(prompt):
        for key, value in mapping.items():
            if key in prompt[-400:]:
                return value
        return default
    return answer


def test_pubmedqa_generated_label_scored_and_failures_counted(data_root):
    suite = load_suite("pubmedqa_gen", data_root=data_root)
    docs = suite.docs(limit=4)
    gold = [d["choices"][d["gold"]] for d in docs]
    wrong = {"yes": "no", "no": "yes", "maybe": "yes"}
    lm = FakeGen(_answers({docs[0]["question"]: f" {gold[0].capitalize()}.",
                           docs[1]["question"]: f" {wrong[gold[1]]}",
                           docs[2]["question"]: " the answer is " + gold[2]}))
    run = run_suite(suite, lm, docs)
    by = {s.doc_id: s for s in run.samples}
    assert [by[d["id"]].correct for d in docs] == [True, False, True, False]
    failed = by[docs[3]["id"]]
    assert failed.prediction is None and failed.record["extraction_failure"].startswith("none of")
    assert failed.record["generation"] == "I am not sure."
    metrics = {m.name: m for m in run.metrics}
    assert metrics["acc"].value == 0.5
    assert metrics["extraction_failed"].value == 0.25 and metrics["extraction_failed"].higher_is_better is False
    prompt, until, budget = lm.requests[0].args
    assert until == ("\n",) and budget == 8 and prompt.endswith("Answer:")


def test_medqa_cot_letter_and_fewshot(data_root):
    suite = load_suite("medqa_usmle_cot_5shot", data_root=data_root)
    docs = suite.docs(limit=2)
    lm = FakeGen(lambda p: "Let me think. Troponin is key.\nThe answer is (A).")
    run = run_suite(suite, lm, docs)
    prompt = lm.requests[0].args[0]
    assert prompt.count("step. The answer is (") == 5 and prompt.endswith("Answer: Let's think step by step.")
    assert run.samples[0].prediction == "A" and run.samples[0].record["extraction"] == "answer phrase"
    assert {m.name for m in run.metrics} == {"acc", "extraction_failed"}


def test_medmcqa_cot_fewshot_uses_explanations(data_root):
    suite = load_suite("medmcqa_cot_5shot", data_root=data_root)
    doc = suite.docs(limit=1)[0]
    shots = suite.fewshot_examples(doc)
    assert len(shots) == 5 and all(s["explanation"] for s in shots)
    assert shots[0]["explanation"] in suite.prompt(doc)


def test_chat_template_few_shot_as_turns(data_root):
    suite = load_suite("pubmedqa_gen_3shot", {"chat_template": True, "system_prompt": "You are a doctor."},
                       data_root=data_root)
    docs = suite.docs(limit=1)
    lm = FakeGen(lambda p: "yes", chat=CHAT)
    run_suite(suite, lm, docs)
    prompt = lm.requests[0].args[0]
    assert prompt.startswith("<|system|>You are a doctor.<|end|><|user|>Abstract:")
    assert prompt.count("<|user|>") == 4 and prompt.count("<|assistant|>") == 4  # 3 answered shots + the question
    assert prompt.endswith("Answer:<|end|><|assistant|>")
    shot_answers = [seg.split("<|end|>")[0] for seg in prompt.split("<|assistant|>")[1:-1]]
    assert set(shot_answers) <= {"yes", "no", "maybe"}  # bare answers, no target delimiter


def test_chat_template_missing_is_one_line_error(data_root):
    suite = load_suite("pubmedqa_gen", {"chat_template": True}, data_root=data_root)
    with pytest.raises(MedtuneError, match="has no chat template") as e:
        run_suite(suite, FakeGen(lambda p: "yes"), suite.docs(limit=1))
    assert "\n" not in str(e.value)


def test_seeded_sampling_travels_in_the_request(data_root):
    suite = load_suite("pubmedqa_gen", {"do_sample": True, "temperature": 0.7}, seed=7, data_root=data_root)
    lm = FakeGen(lambda p: "no")
    run_suite(suite, lm, suite.docs(limit=1))
    assert dict(lm.requests[0].args[3]) == {"do_sample": True, "temperature": 0.7, "top_p": 1.0, "seed": 7}


def test_bad_options_are_one_line_errors(data_root):
    with pytest.raises(MedtuneError, match="does not compile"):
        load_suite("pubmedqa_gen", {"extract": "regex:([a-z"})
    with pytest.raises(MedtuneError, match="cannot be loaded") as e:
        load_suite("pubmedqa_gen", {"evaluate": ["no-such-org/no-such-metric"]})
    assert "\n" not in str(e.value)
    with pytest.raises(MedtuneError, match="does not exist"):
        load_suite("pubmedqa_gen", {"evaluate": [{"module": "/nowhere/rouge.py"}]})
    with pytest.raises(MedtuneError, match="max_new_tokens"):
        load_suite("pubmedqa_gen", {"max_new_tokens": 0})


OVERLAP = textwrap.dedent('''
    import datasets
    import evaluate


    class Overlap(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(description="word overlap", citation="", inputs_description="",
                                       features=datasets.Features({"predictions": datasets.Value("string"),
                                                                   "references": datasets.Value("string")}))

        def _compute(self, predictions, references):
            p, r = set(predictions[0].lower().split()), set(references[0].lower().split())
            return {"overlap": len(p & r) / max(len(r), 1)}
''')


def test_evaluate_module_from_a_local_path(data_root, tmp_path):
    script = tmp_path / "overlap.py"
    script.write_text(OVERLAP)
    suite = load_suite("pubmedqa_gen", {"extract": "text", "answer": "long_answer",
                                        "evaluate": [{"module": str(script), "key": "overlap",
                                                      "reference": "long_answer"}]}, data_root=data_root)
    docs = suite.docs(limit=2)
    lm = FakeGen(lambda p: docs[0]["long_answer"] if docs[0]["question"] in p else "unrelated words")
    run = run_suite(suite, lm, docs)
    assert [s.scores["overlap"] for s in run.samples][0] == 1.0
    metrics = {m.name: m for m in run.metrics}
    assert 0.5 <= metrics["overlap"].value < 1.0 and metrics["acc"].value == 0.5
