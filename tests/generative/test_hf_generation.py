"""The causal backend's batched generation and chat template against lm-eval's HFLM on a tiny model."""

import json

import pytest

from harness.contract import Request
from tests.generative.fakes import CHAT

PROMPTS = ["Question: A 45-year-old man presents with chest pain", "Answer:", "Abstract: Mitochondria play a role in",
           "Do statins reduce mortality in patients with heart failure? yes no maybe. The quick brown fox"]


@pytest.fixture(scope="module")
def backends(tiny_causal):
    from lm_eval.models.huggingface import HFLM

    from harness.models.hf_causal import HFCausalLM
    from harness.models.hf_load import load_tokenizer
    from harness.models.registry import ModelRef

    ref = ModelRef("tiny", str(tiny_causal), "causal")
    tok = load_tokenizer(ref)
    tok.chat_template = CHAT
    ours = HFCausalLM(ref, device="cpu", dtype="float32", batch_size=3, tokenizer=tok)
    theirs = HFLM(pretrained=ours.model, tokenizer=tok, batch_size=3, max_length=ours.max_length, device="cpu")
    return ours, theirs


def _stop_strings(ours):
    """Stop strings the tiny random model does produce (so rows stop early, at different steps)."""
    free = ours.generate_until([Request("generate_until", i, 0, (p, (), 12)) for i, p in enumerate(PROMPTS)])
    return [t[3:5] for t in free if len(t) >= 5][:2] or ["e"]


def test_greedy_generations_identical_to_lm_eval(backends):
    from lm_eval.api.instance import Instance

    ours, theirs = backends
    stops = _stop_strings(ours)
    for until, budget in (((), 16), (tuple(stops), 16), ((), 5)):
        reqs = [Request("generate_until", i, 0, (p, until, budget)) for i, p in enumerate(PROMPTS)]
        mine = ours.generate_until(reqs)
        inst = [Instance("generate_until", {}, (p, {"until": list(until), "max_gen_toks": budget, "do_sample": False}), i)
                for i, p in enumerate(PROMPTS)]
        assert mine == theirs.generate_until(inst)
        assert all(not any(s in t for s in until) for t in mine)


def test_seeded_sampling_is_reproducible(backends):
    ours, _ = backends
    sampling = (("do_sample", True), ("temperature", 1.5), ("top_p", 0.9), ("seed", 3))
    reqs = [Request("generate_until", i, 0, (p, (), 10, sampling)) for i, p in enumerate(PROMPTS)]
    a, b = ours.generate_until(reqs), ours.generate_until(reqs)
    assert a == b and a != ours.generate_until([Request("generate_until", i, 0, (p, (), 10)) for i, p in enumerate(PROMPTS)])


def _lmeval_task(tmp_path, docs, doc_to_text):
    from lm_eval.api.task import ConfigurableTask

    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({k: d[k] for k in ("abstract", "question", "choices", "gold")}) + "\n" for d in docs))
    return ConfigurableTask(config={
        "task": "chat_tokens", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": doc_to_text,
        "doc_to_choice": "{{ choices }}", "doc_to_target": "{{ gold }}", "target_delimiter": " ",
        "fewshot_delimiter": "\n\n", "metric_list": [{"metric": "acc"}]})


@pytest.mark.parametrize("shots", [0, 2])
def test_chat_loglikelihood_tokens_identical_to_lm_eval(backends, data_root, tmp_path, shots):
    """--chat-template on a log-likelihood suite scores the very token ids lm-eval's --apply_chat_template does."""
    from harness.engine import check_compatible
    from suites import load_suite

    ours, theirs = backends
    suite = load_suite("pubmedqa", {"chat_template": True, "system_prompt": "You are a careful physician."},
                       num_fewshot=shots, data_root=data_root)
    docs = suite.docs(limit=2)
    check_compatible(suite, ours, docs)  # binds the chat template
    task = _lmeval_task(tmp_path, docs, suite.spec.doc_to_text)
    for i, doc in enumerate(docs):
        lm_doc = task.test_docs()[i]
        if shots:  # lm-eval's own turns for the few-shot examples medtune picked
            from lm_eval.api.utils import Message

            msgs = [Message("system", "You are a careful physician.")]
            for ex in suite.fewshot_examples(doc):
                msgs += task.build_qa_turn(q=suite.render(suite.spec.doc_to_text, ex, "t"), c=ex["choices"],
                                           a=ex["gold"], tgt_delim=" ", few_delim="\n\n")
            msgs += task.build_qa_turn(q=task.doc_to_text(lm_doc), c=lm_doc["choices"], tgt_delim=" ", few_delim="")
            ctx = theirs.apply_chat_template([m.to_dict() for m in msgs])
        else:
            ctx = task.fewshot_context(lm_doc, 0, system_instruction="You are a careful physician.",
                                       apply_chat_template=True, fewshot_as_multiturn=True,
                                       chat_template=theirs.apply_chat_template)
        theirs_req = task.construct_requests(lm_doc, ctx, apply_chat_template=True, metadata=("t", i, 0))
        mine = [r.args for r in suite.type.requests(i, doc)]
        assert [r.arguments for r in theirs_req] == mine  # same (context, continuation) strings
        assert [theirs._encode_pair(*r.arguments) for r in theirs_req] == [ours.encode_pair(*a) for a in mine]
        assert mine[0][0].startswith("<|system|>You are a careful physician.<|end|><|user|>Abstract:")
        assert mine[0][1] == "yes"  # no target delimiter after the assistant header
