"""Backends by name (hf-causal, hf-encoder, mock, your own), the token_logprobs request kind, the
data root passed explicitly to suites, and settings checked before any work (issue #13 items 3-4)."""

import numpy as np
import pytest

from harness import contract
from harness.errors import MedtuneError
from harness.models import BACKENDS, load, register_backend, resolve
from harness.models.mock import MockLM
from harness.store import Store
from tests.harness.clihelp import run_cli


def test_backends_are_registered_by_name_and_default_from_the_model_kind(tiny_causal):
    assert {"hf-causal", "hf-encoder", "mock"} <= set(BACKENDS.names())
    lm = load(resolve(str(tiny_causal)), batch_size=2)
    assert type(lm).__name__ == "HFCausalLM"
    with pytest.raises(MedtuneError, match="--backend nope: unknown backend; known: hf-causal, hf-encoder, mock"):
        load(resolve(str(tiny_causal)), backend="nope")


def test_mock_needs_no_model_files_and_is_deterministic():
    ref = resolve("anything-at-all", backend="mock")
    assert ref.name == "anything-at-all" and ref.location == "mock:anything-at-all"
    lm = load(ref, backend="mock")
    reqs = [contract.loglikelihood(0, 0, "Q: 2+2?", " 4"), contract.loglikelihood(0, 1, "Q: 2+2?", " 5")]
    first = lm.loglikelihood(reqs)
    assert first == load(ref, backend="mock").loglikelihood(reqs) and first[0] != first[1]
    for kind in contract.KINDS:
        assert lm.supports(kind)
    assert lm.generate_until([contract.generate_until(0, "Say:", ["\n"], 8)])[0]
    assert lm.token_labels([contract.token_labels(0, ["a", "b"])]) == [["O", "O"]]
    assert lm.loglikelihood_rolling([contract.loglikelihood_rolling(0, "a b c")])[0].n_tokens == 3


def test_eval_with_the_mock_backend_on_the_command_line(capsys, data_root, db):
    code, out, err = run_cli(capsys, "eval", "--variant", "anything", "--backend", "mock", "--suite", "medqa_usmle",
                             "--limit", "5", "--db", str(db), "--data-root", str(data_root))
    assert code == 0, err
    runs = Store(db).query("SELECT variant, n_samples, model FROM runs")
    assert list(runs["variant"]) == ["anything"] and list(runs["n_samples"]) == [5]
    assert "mock:anything" in str(runs["model"][0])


def test_an_unknown_backend_is_refused_before_any_work(capsys, data_root, db):
    code, out, err = run_cli(capsys, "eval", "--variant", "anything", "--backend", "nope", "--suite", "medqa_usmle",
                             "--db", str(db), "--data-root", str(data_root))
    assert code == 2 and "--backend nope: unknown backend" in err and "Traceback" not in err
    assert not db.exists()


class Pessimist(MockLM):
    """A user's own backend: every option is equally unlikely."""

    def loglikelihood(self, requests, progress=None):
        return [contract.LoglikelihoodResult(-1.0, False, 1) for _ in requests]


def test_register_your_own_backend(data_root, db):
    import medtune

    medtune.register_backend("pessimist", Pessimist)
    try:
        results = medtune.evaluate("me", "medqa_usmle", backend="pessimist", limit=3, db=db, data_root=data_root)
    finally:
        BACKENDS.unregister("pessimist")
    assert results[0].status == "ran" and results[0].metrics["acc"].n == 3


def test_membership_inference_goes_through_the_contract(tiny_causal):
    """token_logprobs is a request kind: the causal backend's answer equals a plain forward pass, and
    membership inference runs on any backend answering it (the mock has no tokenizer or LM head)."""
    import torch

    from harness.leakage import membership

    lm = load(resolve(str(tiny_causal)), batch_size=2)
    texts = ["the patient was given aspirin", "a b c d e f g h"]
    stats = membership.token_stats(lm, texts, max_tokens=5)
    for text, st in zip(texts, stats):
        ids = [lm.prefix_token_id] + lm.tokenizer.encode(text, add_special_tokens=False)[:5]
        with torch.no_grad():
            lp = torch.log_softmax(lm.model(torch.tensor([ids])).logits[0, :-1].float(), -1)
        want = lp.gather(-1, torch.tensor(ids[1:])[:, None])[:, 0].numpy()
        assert np.allclose(st.logprob, want, atol=1e-4)
        assert np.allclose(st.mu, (lp.exp() * lp).sum(-1).numpy(), atol=1e-4)
    mock = membership.token_stats(load(resolve("m", backend="mock"), backend="mock"), texts, max_tokens=5)
    assert [len(s.logprob) for s in mock] == [5, 5] and np.isfinite(membership.scores(mock[0])["min_k_plus_plus"])


def test_lm_eval_engine_needs_a_backend_that_provides_it(data_root, db):
    import medtune

    with pytest.raises(MedtuneError, match="backend mock does not provide lm_eval_model"):
        medtune.evaluate("x", "medqa_usmle", backend="mock", engine="lm-eval", limit=2, db=db, data_root=data_root)
    assert not db.exists()


def test_suites_get_their_data_root_explicitly(data_root):
    from suites import load_suite

    suite = load_suite("mmlu_medical_5shot", data_root=data_root)
    doc = suite.load_docs(data_root)[0]
    assert suite.prompt(doc).count("Question:") == 6  # few-shot examples read from the root it was given
    assert not hasattr(suite, "_data_root")
    with pytest.raises(MedtuneError, match="no data root"):
        load_suite("mmlu_medical_5shot").docs()


def test_demo_refuses_a_bad_limit_before_tuning(capsys, data_root, db, monkeypatch):
    import tuning.train

    def tune(*args, **kwargs):
        raise AssertionError("tuning started")

    monkeypatch.setattr(tuning.train, "tune", tune)
    code, out, err = run_cli(capsys, "demo", "--limit", "0", "--db", str(db), "--data-root", str(data_root))
    assert code == 2 and "--limit 0: must be an integer >= 1" in err and "tuning" not in out
    assert not db.exists()
