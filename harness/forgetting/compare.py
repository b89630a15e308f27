"""Paired, per-item comparison of two runs of one suite, and the learn/forget summary.

- Per suite and metric: variant - reference on the same items, with a 95% paired CI and a
  p-value, by the test and in the direction the suite type declares (``harness.metrics``: McNemar
  for per-item 0/1 scores, paired bootstrap of the corpus statistic for perplexity or F1).
- Forgetting index: mean drop (reference - variant) over HellaSwag (acc_norm), ARC-Challenge
  (acc_norm) and WinoGrande (acc), as in Biderman et al. 2024, "LoRA Learns Less and Forgets Less".
- Domain gain: mean change (variant - reference) in accuracy over the medical QA suites.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from harness.errors import MedtuneError
from harness.metrics import compare, per_item
from harness.stats import mean_of_means_ci

# (suite, metric) pairs that define the two summary numbers.
FORGETTING_TASKS = {"hellaswag": "acc_norm", "arc_challenge": "acc_norm", "winogrande": "acc"}
DOMAIN_SUITES = {"medqa_usmle": "acc", "medmcqa": "acc", "pubmedqa": "acc", "mmlu_medical": "acc"}


@dataclass
class Comparison:
    suite: str
    metric: str
    higher_is_better: bool
    variant_value: float
    reference_value: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    n: int
    item_deltas: np.ndarray | None  # per-item variant - reference (per-item metrics), for the summaries


def _samples(store, run_id: str):
    from harness.store.runs import sample_scores

    df = sample_scores(store, run_id)
    return list(df.doc_id), [json.loads(s) for s in df.scores]


def compare_runs(store, suite, variant_run: str, reference_run: str, label: str) -> list[Comparison]:
    """Every metric of ``suite`` compared item by item; the two runs must cover the same items, under the
    same scoring protocol."""
    from suites._protocol import check_pairable

    check_pairable(store, suite.name, variant_run, reference_run, ("variant's", f"{label}'s"))
    v_ids, v_scores = _samples(store, variant_run)
    r_ids, r_scores = _samples(store, reference_run)
    if v_ids != r_ids:
        only_v, only_r = len(set(v_ids) - set(r_ids)), len(set(r_ids) - set(v_ids))
        raise MedtuneError(f"{suite.name}: the runs of the variant and its {label} cover different items "
                           f"({len(v_ids)} vs {len(r_ids)}; {only_v} only in the variant's, {only_r} only in the {label}'s); "
                           "re-run both with the same --limit")
    out = []
    for metric in suite.spec.metrics:
        declared = suite.type.metric(metric)
        cmp, _ = compare(declared, metric, v_scores, r_scores)
        if declared.corpus:
            vv, rv, deltas = declared.value(v_scores), declared.value(r_scores), None
        else:
            a, b = per_item(metric, v_scores), per_item(metric, r_scores)
            vv, rv, deltas = float(a.mean()), float(b.mean()), a - b
        out.append(Comparison(suite.name, metric, declared.higher_is_better, vv, rv, cmp.delta, cmp.ci_low,
                              cmp.ci_high, cmp.p_value, cmp.test, cmp.n, deltas))
    return out


@dataclass
class Summary:
    forgetting_index: float | None
    fi_ci: tuple[float, float] | None
    fi_tasks: list[str]
    domain_gain: float | None
    dg_ci: tuple[float, float] | None
    dg_suites: list[str]


def forgetting_report(comparisons: list[Comparison]) -> Summary:
    by_key = {(c.suite, c.metric): c for c in comparisons}
    drops = [-by_key[(s, m)].item_deltas for s, m in FORGETTING_TASKS.items() if (s, m) in by_key]
    gains = [by_key[(s, m)].item_deltas for s, m in DOMAIN_SUITES.items() if (s, m) in by_key]
    fi = mean_of_means_ci(drops) if drops else None
    dg = mean_of_means_ci(gains) if gains else None
    return Summary(fi[0] if fi else None, (fi[1], fi[2]) if fi else None,
                   [s for s, m in FORGETTING_TASKS.items() if (s, m) in by_key],
                   dg[0] if dg else None, (dg[1], dg[2]) if dg else None,
                   [s for s, m in DOMAIN_SUITES.items() if (s, m) in by_key])
