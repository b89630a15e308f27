"""Run a medtune suite through lm-eval (``medtune eval --engine lm-eval``).

The suite's documents are rendered by medtune (prompt, few-shot, continuations) into a local
JSONL, and a generated lm-eval task scores exactly those requests: ``doc_to_text`` is the
rendered context, ``doc_to_choice`` the rendered continuations, ``target_delimiter`` empty. So
the two engines see identical (context, continuation) pairs, and differences are the engines'.
The backend hands lm-eval its own model object (``backend.lm_eval_model()``; the HF causal backend
returns an HFLM over the already-loaded model), so weights and dtype are the same too. A backend
without ``lm_eval_model`` cannot run ``--engine lm-eval``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import yaml

from harness.contract import LoglikelihoodResult
from harness.engine import SuiteRun
from harness.errors import MedtuneError

SUPPORTED_TYPES = ("multiple_choice",)


def write_task(suite, docs: list[dict], folder: Path) -> str:
    """A local lm-eval task over the suite's rendered requests; returns the task name."""
    if suite.spec.type not in SUPPORTED_TYPES:
        raise MedtuneError(f"--engine lm-eval supports suite types {', '.join(SUPPORTED_TYPES)}; "
                           f"{suite.name} is {suite.spec.type}")
    task = f"medtune_{suite.name}_{suite.version}"
    data = folder / f"{task}.jsonl"
    with open(data, "w") as f:
        for doc in docs:
            f.write(json.dumps({"doc_id": str(doc["id"]), "context": suite.prompt(doc),
                                "choices": suite.type.continuations(doc), "gold": int(doc["gold"])}) + "\n")
    spec = {
        "task": task,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "context",
        "doc_to_choice": "choices",
        "doc_to_target": "gold",
        "target_delimiter": "",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    (folder / f"{task}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return task


def make_hflm(lm):
    """lm-eval's model object for the backend ``lm``, through its documented ``lm_eval_model()`` accessor."""
    accessor = getattr(lm, "lm_eval_model", None)
    if accessor is None:
        raise MedtuneError(f"--engine lm-eval needs a backend that provides lm_eval_model(); "
                           f"{type(lm).__name__} ({lm.info.name}) does not: use --engine native")
    return accessor()


def lmeval_loglikelihoods(suite, docs: list[dict], hflm) -> list[list[tuple[float, bool]]]:
    """Per document, lm-eval's (loglikelihood, is_greedy) for each option."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    with tempfile.TemporaryDirectory(prefix="medtune-lmeval-") as tmp:
        task = write_task(suite, docs, Path(tmp))
        out = lm_eval.simple_evaluate(model=hflm, tasks=[task], task_manager=TaskManager(include_path=tmp),
                                      num_fewshot=0, log_samples=True, bootstrap_iters=0, verbosity="ERROR")
    by_doc = {s["doc_id"]: s for s in out["samples"][task]}
    if len(by_doc) != len(docs):
        raise MedtuneError(f"lm-eval returned {len(by_doc)} of {len(docs)} documents for {suite.name}")
    return [[tuple(r[0]) for r in by_doc[i]["resps"]] for i in range(len(docs))]


def run_with_lmeval(suite, lm, docs: list[dict], seed: int = 0, progress=None) -> SuiteRun:
    t0 = time.perf_counter()
    per_doc = lmeval_loglikelihoods(suite, docs, make_hflm(lm))
    samples = []
    for doc, pairs in zip(docs, per_doc):
        conts = suite.type.continuations(doc)
        prompt = suite.prompt(doc)
        results = [LoglikelihoodResult(float(ll), bool(greedy), lm.continuation_tokens(prompt, c))
                   for (ll, greedy), c in zip(pairs, conts)]
        samples.append(suite.type.score(doc, {"loglikelihood": results}))
        if progress:
            progress(len(conts))
    return SuiteRun(samples, suite.type.aggregate(samples, seed=seed), time.perf_counter() - t0)
