import json

import numpy as np
import pytest

from harness import contract
from harness.engine import run_suite, score_docs
from harness.models import load, resolve
from suites import load_suite


@pytest.fixture(scope="module")
def lm(tiny_causal):
    return load(resolve(str(tiny_causal)), batch_size=3)


def test_shared_context_scoring_equals_full_sequence_scoring(lm):
    reqs = [contract.loglikelihood(0, i, "Question: chest pain radiating to the arm\nAnswer:", c)
            for i, c in enumerate([" myocardial infarction", " aspirin", " The quick brown fox jumps"])]
    reqs += [contract.loglikelihood(1, i, "Do statins reduce mortality? ", c) for i, c in enumerate(["yes", "no", "maybe"])]
    reqs += [contract.loglikelihood(2, 0, "", "Paris is the capital")]
    shared = lm.loglikelihood(reqs)
    full = [lm._score_full([lm.encode_pair(*r.args)])[0] for r in reqs]
    np.testing.assert_allclose([r.logprob for r in shared], full, rtol=1e-5)
    assert [r.n_tokens for r in shared] == [len(lm.encode_pair(*r.args)[1]) for r in reqs]


def test_results_do_not_depend_on_batch_size(tiny_causal, data_root):
    suite = load_suite("medqa_usmle")
    docs = suite.docs(data_root, limit=6)
    a = score_docs(suite, load(resolve(str(tiny_causal)), batch_size=1), docs)
    b = score_docs(suite, load(resolve(str(tiny_causal)), batch_size=4), docs)
    np.testing.assert_allclose([s.record["loglikelihoods"] for s in a], [s.record["loglikelihoods"] for s in b], rtol=1e-5)


def test_native_and_lm_eval_agree_on_every_sample(lm, data_root):
    """Same chosen option everywhere, loglikelihoods within 1e-4 relative (issue 2, point 5)."""
    from harness.lmeval_bridge import lmeval_loglikelihoods, make_hflm

    for name, limit in [("medqa_usmle", 6), ("pubmedqa", 4), ("mmlu_medical_5shot", 4)]:
        suite = load_suite(name)
        docs = suite.docs(data_root, limit=limit)
        native = score_docs(suite, lm, docs)
        theirs = lmeval_loglikelihoods(suite, docs, make_hflm(lm))
        for sample, pairs in zip(native, theirs):
            ours = np.array(sample.record["loglikelihoods"])
            ref = np.array([ll for ll, _ in pairs])
            np.testing.assert_allclose(ours, ref, rtol=1e-4)
            assert sample.prediction == int(np.argmax(ref))
            assert sample.record["is_greedy"] == [bool(g) for _, g in pairs]


def test_interrupted_run_resumes_from_the_partial_file(lm, data_root, tmp_path):
    suite = load_suite("pubmedqa_noabstract")
    docs = suite.docs(data_root, limit=10)
    partial = tmp_path / "partial.jsonl"
    calls = []

    class Interrupting:
        def __init__(self, inner, fail_after):
            self.inner, self.fail_after, self.info = inner, fail_after, inner.info

        def supports(self, kind):
            return self.inner.supports(kind)

        def loglikelihood(self, reqs, progress=None):
            calls.append(len(reqs))
            if len(calls) > self.fail_after:
                raise KeyboardInterrupt
            return self.inner.loglikelihood(reqs)

    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, Interrupting(lm, 1), docs, partial_path=partial, chunk_size=4)
    assert len(partial.read_text().splitlines()) == 4  # the first chunk was kept
    calls.clear()
    resumed = run_suite(suite, Interrupting(lm, 99), docs, partial_path=partial, chunk_size=4)
    assert resumed.resumed == 4 and calls == [12, 6]  # only the 6 remaining documents were scored
    fresh = run_suite(suite, lm, docs)
    np.testing.assert_allclose([s.record["loglikelihoods"] for s in resumed.samples],
                               [s.record["loglikelihoods"] for s in fresh.samples], rtol=1e-6)


class _StopAfter:
    """A backend that raises KeyboardInterrupt after ``n`` batched calls (as Ctrl+C / kill would)."""

    def __init__(self, inner, n):
        self.inner, self.n, self.info, self.calls = inner, n, inner.info, []

    def supports(self, kind):
        return self.inner.supports(kind)

    def loglikelihood(self, reqs, progress=None):
        self.calls.append(len(reqs))
        if len(self.calls) > self.n:
            raise KeyboardInterrupt
        return self.inner.loglikelihood(reqs)


def test_a_partial_file_of_changed_documents_is_discarded(lm, data_root, tmp_path):
    suite = load_suite("pubmedqa_noabstract")
    docs = suite.docs(data_root, limit=8)
    partial = tmp_path / "partial.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, _StopAfter(lm, 1), docs, partial_path=partial, chunk_size=4)
    changed = [dict(d) for d in docs]
    changed[2]["gold"] = (changed[2]["gold"] + 1) % len(changed[2]["choices"])  # same ids, an edited answer
    again = _StopAfter(lm, 99)
    result = run_suite(suite, again, changed, partial_path=partial, chunk_size=4)
    assert result.resumed == 0 and again.calls == [12, 12]
    assert [s.target for s in result.samples] == [d["gold"] for d in changed]
    assert len(partial.read_text().splitlines()) == 8  # no stale line left before the new ones


def test_a_line_cut_by_a_kill_is_cut_off_before_resuming(lm, data_root, tmp_path):
    suite = load_suite("pubmedqa_noabstract")
    docs = suite.docs(data_root, limit=8)
    partial = tmp_path / "partial.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, _StopAfter(lm, 1), docs, partial_path=partial, chunk_size=4)
    with open(partial, "a") as f:
        f.write('{"doc_id": "half a li')  # kill -9 in the middle of a write
    again = _StopAfter(lm, 99)
    result = run_suite(suite, again, docs, partial_path=partial, chunk_size=4)
    assert result.resumed == 4 and again.calls == [12]
    lines = partial.read_text().splitlines()
    assert len(lines) == 8 and all(json.loads(line)["doc_id"] for line in lines)
