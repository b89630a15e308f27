"""A results DB with realistic rows in every table the dashboard and the gate read, written
through harness.store (no model is loaded). Deterministic: the same seed gives the same DB."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from harness.stats import bootstrap_ci
from harness.store import Store
from harness.store.records import (CanaryExposure, ForgettingRow, ForgettingSummaryRow, LeakageAudit,
                                   LeakageCleanMetric, LeakageItem, MembershipInference, MetricRow,
                                   RobustnessAudit, RobustnessPerturbation, RunRecord, SampleRow, SuiteRecord,
                                   TrainingCurvePoint, insert)
from harness.store.variants import register_variant

VARIANTS = [  # name, parent, method, skill on medical QA, skill on general suites
    ("smollm2-135m", None, "base", 0.30, 0.40),
    ("smollm2-dapt", "smollm2-135m", "dapt", 0.36, 0.35),
    ("smollm2-dapt-lora", "smollm2-dapt", "lora", 0.41, 0.34),
    ("smollm2-qlora", "smollm2-135m", "qlora", 0.34, 0.39),
]
SUITES = {"medqa_usmle": "medical_qa", "medmcqa": "medical_qa", "pubmedqa": "medical_qa",
          "hellaswag": "general", "arc_challenge": "general", "winogrande": "general"}
N_ITEMS = 40
T0 = datetime(2026, 11, 20, 9, 0)


def _samples(rng, suite: str, skill: float) -> list[dict]:
    out = []
    for i in range(N_ITEMS):
        n_opt = 3 if suite == "pubmedqa" else 4
        gold = int(rng.integers(n_opt))
        lls = rng.normal(-12, 2, n_opt)
        if rng.random() < abs(skill):  # a negative skill pushes the gold option down: a broken variant
            lls[gold] = lls.max() + abs(rng.normal(0.5, 0.3)) if skill > 0 else lls.min() - 1.0
        pred = int(np.argmax(lls))
        options = [f" option {chr(65 + k)} for item {i}" for k in range(n_opt)]
        out.append({"doc_id": f"{suite}-{i:03d}", "target": str(gold), "prediction": str(pred),
                    "correct": pred == gold, "score": float(pred == gold),
                    "scores": {"acc": float(pred == gold), "acc_norm": float(pred == gold)},
                    "record": {"prompt": f"Question: item {i} of {suite}: which finding is most likely?\nAnswer:",
                               "options": options, "loglikelihoods": [round(x, 3) for x in lls]}})
    return out


def write_run(con, run_id: str, variant: str, suite: str, samples: list[dict], when: datetime) -> None:
    insert(con, [SuiteRecord(name=suite, version_hash="v1", family=SUITES.get(suite, "medical_qa"),
                             type="multiple_choice", spec="{}")], mode="OR IGNORE")
    insert(con, [RunRecord(run_id=run_id, run_key=run_id, variant=variant, suite=suite, suite_hash="v1",
                           engine="native", settings="{}", model="{}", code_version="0.1.0", machine="{}",
                           n_samples=len(samples), started_at=when, finished_at=when + timedelta(minutes=3),
                           duration_s=1.0, samples_per_s=float(len(samples)))])
    for metric in [m for m in ("acc", "acc_norm", "f1") if m in samples[0]["scores"]]:
        point, low, high = bootstrap_ci(np.array([s["scores"][metric] for s in samples]))
        insert(con, [MetricRow(run_id=run_id, metric=metric, value=point, ci_low=low, ci_high=high, n=len(samples))])
    insert(con, [SampleRow(run_id=run_id, sample_idx=idx, doc_id=s["doc_id"], target=s["target"],
                           prediction=s["prediction"], correct=s["correct"], score=s["score"],
                           scores=json.dumps(s["scores"]), record=json.dumps(s["record"]))
                 for idx, s in enumerate(samples)])


def build(path: Path, seed: int = 0, audits: bool = True) -> Path:
    """Write the fixture DB at ``path``; ``audits=False`` leaves the forgetting/leakage/robustness tables empty."""
    store = Store(path)
    rng = np.random.default_rng(seed)
    with store.connect(write=True) as con:
        for k, (name, parent, method, med, gen) in enumerate(VARIANTS):
            lineage = {"config": {"method": method, "lr": 2e-4, "epochs": 1}, "seed": k,
                       "data": {"corpus/pubmed_abstracts.jsonl": "sha256:" + f"{k:02d}" * 8}} if parent else {}
            register_variant(store, name, f"/models/{name}", "causal", method=method, parent=parent,
                             lineage=lineage, con=con)
            for j, suite in enumerate(SUITES):
                skill = med if SUITES[suite] == "medical_qa" else gen
                write_run(con, f"r{k}{j}", name, suite, _samples(rng, suite, skill), T0 + timedelta(hours=6 * k))
            if parent:
                steps = np.arange(10, 210, 10)
                insert(con, [TrainingCurvePoint(
                    variant=name, step=int(step), epoch=step / 200, train_loss=3.2 * np.exp(-step / 120) + 1.1,
                    eval_loss=3.3 * np.exp(-step / 140) + 1.2 if step % 50 == 0 else None, learning_rate=2e-4,
                    tokens_seen=int(step) * 4096, logged_at=T0) for step in steps])
        # a later re-run of the base on medqa with a regression (e.g. a broken tokenizer)
        write_run(con, "r-late", "smollm2-135m", "medqa_usmle", _samples(rng, "medqa_usmle", -0.6),
                  T0 + timedelta(days=1))
        if audits:
            _audits(con, rng)
    return path


def _audits(con, rng) -> None:
    for k, (name, parent, _, med, gen) in enumerate(VARIANTS[1:], start=1):
        base_med, base_gen = VARIANTS[0][3], VARIANTS[0][4]
        fi, dg = base_gen - gen, med - base_med
        insert(con, [ForgettingSummaryRow(
            variant=name, reference="smollm2-135m", reference_role="base", forgetting_index=fi, fi_ci_low=fi - 0.04,
            fi_ci_high=fi + 0.04, fi_tasks=json.dumps(["hellaswag", "arc_challenge", "winogrande"]), domain_gain=dg,
            dg_ci_low=dg - 0.05, dg_ci_high=dg + 0.05, dg_suites=json.dumps(["medqa_usmle", "medmcqa", "pubmedqa"]),
            computed_at=T0)])
        for suite, family in SUITES.items():
            ref = base_med if family == "medical_qa" else base_gen
            val = med if family == "medical_qa" else gen
            insert(con, [ForgettingRow(
                variant=name, reference="smollm2-135m", reference_role="base", suite=suite, family=family,
                metric="acc", higher_is_better=True, variant_value=val, reference_value=ref, delta=val - ref,
                ci_low=val - ref - 0.08, ci_high=val - ref + 0.08, p_value=0.2, test="mcnemar", n=40)])
    insert(con, [LeakageAudit(audit_id="leak1", variant="smollm2-dapt", created_at=T0, settings="{}", summary="{}")])
    insert(con, [LeakageItem(audit_id="leak1", suite="pubmedqa", doc_id=f"pubmedqa-{i:03d}",
                             ngram_overlap=0.9 if i < 3 else 0.02, near_dup_jaccard=0.85 if i < 3 else 0.0,
                             contaminated=i < 3, matched_source="corpus/pubmed_abstracts.jsonl:12" if i < 3 else None)
                 for i in range(N_ITEMS)])
    insert(con, [LeakageCleanMetric(audit_id="leak1", suite="pubmedqa", run_id="r12", metric="acc", full_value=0.40,
                                    full_n=40, clean_value=0.38, clean_n=37, clean_ci_low=0.23, clean_ci_high=0.54)])
    insert(con, [MembershipInference(audit_id="leak1", method="min_k", auroc=0.53, n_members=200, n_nonmembers=200,
                                     k=0.2, members_source="train", nonmembers_source="heldout", ci_low=0.47,
                                     ci_high=0.59)])
    insert(con, [CanaryExposure(audit_id="leak1", canary_id=f"canary-{c}", repetitions=10 ** c,
                                exposure=[1.2, 3.5, 9.97][c], rank=[435, 88, 1][c], candidates=1000, reproduced=c == 2,
                                secret_field="mrn", generation="MRN 000") for c in range(3)])
    insert(con, [RobustnessAudit(audit_id="rob1", variant="smollm2-dapt", suite="medqa_usmle",
                                 suite_type="multiple_choice", metric="acc", clean_value=0.36, n=40, settings="{}",
                                 report_path="/nonexistent/giskard.html", giskard_issues="[]", n_issues=0,
                                 code_version="0.1.0", duration_s=12.0, created_at=T0)])
    insert(con, [RobustnessPerturbation(audit_id="rob1", perturbation=p, metric="acc", clean_value=0.36,
                                        perturbed_value=0.36 - flip / 3, delta=-flip / 3, ci_low=-0.1, ci_high=0.02,
                                        flip_rate=flip, n=30, p_value=0.2, flagged=flip > 0.2)
                 for p, flip in [("Transform to uppercase", 0.22), ("Add typos", 0.31), ("Punctuation removal", 0.08)]])
    # an older audit run without giskard (not installed, or --no-giskard-scan): no scan, no issues, no report
    insert(con, [RobustnessAudit(audit_id="rob0", variant="smollm2-135m", suite="medqa_usmle",
                                 suite_type="multiple_choice", metric="acc", clean_value=0.30, n=40,
                                 settings={"giskard_scan": "not run: giskard is not installed"},
                                 code_version="0.1.0", duration_s=8.0, created_at=T0 - timedelta(days=1))])
    insert(con, [RobustnessPerturbation(audit_id="rob0", perturbation=p, metric="acc", clean_value=0.30,
                                        perturbed_value=0.30 - flip / 3, delta=-flip / 3, ci_low=-0.1, ci_high=0.02,
                                        flip_rate=flip, n=30, p_value=0.3, flagged=flip > 0.2)
                 for p, flip in [("Transform to lowercase", 0.05), ("Add typos", 0.12)]])
