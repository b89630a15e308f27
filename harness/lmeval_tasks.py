"""Score an lm-eval task (``--suite lmeval:TASK``, see suites/_lmeval.py) into medtune's tables.

The task runs through ``lm_eval.simple_evaluate(log_samples=True)`` on the backend's own model
object (``lm_eval_model()``: the HF causal backend hands over an HFLM around the already-loaded
model, as ``--engine lm-eval`` does). Each logged sample becomes a medtune ``Sample`` (the document,
the request arguments, the raw and filtered responses, every per-sample metric), and each metric a
``Metric``: a metric lm-eval aggregates by mean gets medtune's bootstrap CI over the per-sample
values (so the gate's paired tests and forgetting compare it like a native suite's); any other
aggregation keeps lm-eval's value with a normal CI from lm-eval's bootstrap stderr. A metric under a
filter other than ``none`` is named ``metric_filter`` (``exact_match_strict-match``).
"""

from __future__ import annotations

import contextlib
import math
import time
from numbers import Number

from harness.engine import SuiteRun
from harness.errors import MedtuneError
from harness.results import Metric, Sample


def run_task(suite, lm, docs: list[dict], seed: int = 0, progress=None) -> SuiteRun:
    import lm_eval

    from harness.lmeval_bridge import make_hflm

    t0 = time.perf_counter()
    task = suite.task_object
    n_all = len(task.eval_docs)
    with _no_git_probe():
        out = lm_eval.simple_evaluate(model=make_hflm(lm), tasks=[task], task_manager=suite.manager,
                                      num_fewshot=suite.num_fewshot, limit=len(docs) if len(docs) < n_all else None,
                                      log_samples=True, bootstrap_iters=1000, random_seed=seed, numpy_random_seed=seed,
                                      torch_random_seed=seed, fewshot_random_seed=seed, verbosity="ERROR")
    if out is None or suite.task not in out.get("samples", {}):
        raise MedtuneError(f"lm-eval returned no samples for {suite.task}")
    samples = to_samples(suite, out["samples"][suite.task])
    if progress:
        progress(len(samples))
    metrics = to_metrics(suite, samples, out["results"][suite.task], out.get("higher_is_better", {}).get(suite.task, {}),
                         seed)
    return SuiteRun(samples, metrics, time.perf_counter() - t0)


@contextlib.contextmanager
def _no_git_probe():
    """lm-eval runs ``git describe`` in the current folder for its own results (medtune records its code
    version itself); outside a git repository git prints ``fatal: not a git repository`` on our stderr."""
    import lm_eval.evaluator as evaluator
    import lm_eval.loggers.utils as logger_utils

    patched = [(m, getattr(m, "get_git_commit_hash")) for m in (evaluator, logger_utils) if hasattr(m, "get_git_commit_hash")]
    patched_commit = getattr(logger_utils, "get_commit_from_path", None)
    for module, _ in patched:
        module.get_git_commit_hash = lambda: None
    if patched_commit is not None:
        logger_utils.get_commit_from_path = lambda *args, **kwargs: None
    try:
        yield
    finally:
        for module, original in patched:
            module.get_git_commit_hash = original
        if patched_commit is not None:
            logger_utils.get_commit_from_path = patched_commit


def _choice_index(suite, response) -> tuple[int, list[float]] | None:
    """For a multiple-choice task: the chosen option (argmax log-likelihood) and the per-option
    log-likelihoods, from lm-eval's filtered responses (one ``(loglikelihood, is_greedy)`` per option)."""
    task = getattr(suite, "task_object", None)
    kind = getattr(task, "OUTPUT_TYPE", None) or getattr(getattr(task, "config", None), "output_type", None)
    if kind != "multiple_choice" or not isinstance(response, (list, tuple)) or not response:
        return None
    lls = []
    for r in response:
        value = r[0] if isinstance(r, (list, tuple)) and r else r
        number = _number(value)
        if number is None:
            return None
        lls.append(number)
    return max(range(len(lls)), key=lls.__getitem__), lls


def _name(metric: str, filt: str) -> str:
    return metric if filt in ("none", "", None) else f"{metric}_{filt}"


def _number(value) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, Number) and math.isfinite(float(value)):
        return float(value)
    return None


def to_samples(suite, logged: list[dict]) -> list[Sample]:
    """One medtune sample per document (lm-eval logs a document once per filter: merged here)."""
    by_doc: dict[int, dict] = {}
    metric_names = [str(m["metric"]) for m in suite.metric_list] or None
    for s in logged:
        filt = s.get("filter", "none")
        entry = by_doc.setdefault(s["doc_id"], {"log": s, "scores": {}, "values": {}, "filtered": {}})
        entry["filtered"][filt] = s.get("filtered_resps")
        names = s.get("metrics") or metric_names or []
        for metric in names:
            if metric in s:
                key = _name(metric, filt)
                entry["values"][key] = s[metric]
                num = _number(s[metric])
                if num is not None:
                    entry["scores"][key] = num
    out = []
    for doc_id in sorted(by_doc):
        entry = by_doc[doc_id]
        s, scores = entry["log"], entry["scores"]
        primary = next(iter(scores), None)
        correct_key = next((k for k in ("acc", "exact_match", "acc_norm") if k in scores), None)
        filtered = entry["filtered"]
        prediction = filtered.get("none", next(iter(filtered.values()), None))
        chosen = _choice_index(suite, prediction)
        extra = {}
        if chosen is not None:  # a multiple-choice task: the chosen option's index, as a native suite stores it
            prediction, extra = chosen[0], {"loglikelihoods": chosen[1]}
        out.append(Sample(
            doc_id=str(doc_id), target=s.get("target"), prediction=prediction,
            correct=bool(scores[correct_key]) if correct_key and scores[correct_key] in (0.0, 1.0) else None,
            score=scores.get(primary) if primary else None, scores=scores,
            record={"task": suite.task, "doc": s.get("doc"), "arguments": s.get("arguments"), "resps": s.get("resps"),
                    "filtered_resps": filtered, "metrics": {k: v for k, v in entry["values"].items() if k not in scores},
                    **extra}))
    return out


def to_metrics(suite, samples: list[Sample], results: dict, directions: dict, seed: int) -> list[Metric]:
    from harness.metrics import mean_of

    aggregations = {str(m["metric"]): m.get("aggregation", "mean") for m in suite.metric_list}
    out = []
    for key, value in results.items():
        if "," not in key or "_stderr," in key:
            continue
        metric, _, filt = key.partition(",")
        name = _name(metric, filt)
        point = _number(value)
        if point is None:
            continue
        hib = directions.get(metric, True)
        hib = True if hib is None else bool(hib)
        items = [s.scores for s in samples if name in s.scores]
        if aggregations.get(metric, "mean") == "mean" and len(items) == len(samples) and samples:
            m = mean_of(name, hib).measure(items, seed=seed)
            if m is not None:
                out.append(m)
                continue
        stderr = _number(results.get(f"{metric}_stderr,{filt}"))
        low, high = (point - 1.96 * stderr, point + 1.96 * stderr) if stderr is not None else (None, None)
        out.append(Metric(name, point, low, high, len(samples), hib))
    return out
