"""A results DB with realistic rows in every table the dashboard and the gate read, written
through harness.store (no model is loaded). Deterministic: the same seed gives the same DB."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from harness.stats import bootstrap_ci
from harness.store import Store
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
    con.execute("INSERT OR IGNORE INTO suites (name, version_hash, family, type, spec) VALUES (?, 'v1', ?, "
                "'multiple_choice', '{}')", [suite, SUITES.get(suite, "medical_qa")])
    con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, 'v1', 'native', '{}', '{}', '0.1.0', '{}', ?, ?, ?, 1.0, ?)",
                [run_id, run_id, variant, suite, len(samples), when, when + timedelta(minutes=3), float(len(samples))])
    for metric in [m for m in ("acc", "acc_norm", "f1") if m in samples[0]["scores"]]:
        point, low, high = bootstrap_ci(np.array([s["scores"][metric] for s in samples]))
        con.execute("INSERT INTO metrics (run_id, metric, value, ci_low, ci_high, n) VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, metric, point, low, high, len(samples)])
    con.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[run_id, idx, s["doc_id"], s["target"], s["prediction"], s["correct"], s["score"],
                      json.dumps(s["scores"]), json.dumps(s["record"])] for idx, s in enumerate(samples)])


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
                for step in steps:
                    con.execute("INSERT INTO training_curves VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                [name, int(step), step / 200, 3.2 * np.exp(-step / 120) + 1.1,
                                 3.3 * np.exp(-step / 140) + 1.2 if step % 50 == 0 else None, 2e-4, int(step) * 4096,
                                 T0])
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
        con.execute("INSERT INTO forgetting_summary VALUES (?, 'smollm2-135m', 'base', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, fi, fi - 0.04, fi + 0.04, json.dumps(["hellaswag", "arc_challenge", "winogrande"]),
                     dg, dg - 0.05, dg + 0.05, json.dumps(["medqa_usmle", "medmcqa", "pubmedqa"]), T0])
        for suite, family in SUITES.items():
            ref = base_med if family == "medical_qa" else base_gen
            val = med if family == "medical_qa" else gen
            con.execute("INSERT INTO forgetting (variant, reference, reference_role, suite, family, metric, "
                        "higher_is_better, variant_value, reference_value, delta, ci_low, ci_high, p_value, test, n) "
                        "VALUES (?, 'smollm2-135m', 'base', ?, ?, 'acc', true, ?, ?, ?, ?, ?, 0.2, 'mcnemar', 40)",
                        [name, suite, family, val, ref, val - ref, val - ref - 0.08, val - ref + 0.08])
    con.execute("INSERT INTO leakage_audits VALUES ('leak1', 'smollm2-dapt', ?, '{}', '{}')", [T0])
    for i in range(N_ITEMS):
        con.execute("INSERT INTO leakage_items VALUES ('leak1', 'pubmedqa', ?, ?, ?, ?, ?)",
                    [f"pubmedqa-{i:03d}", 0.9 if i < 3 else 0.02, 0.85 if i < 3 else 0.0, i < 3,
                     "corpus/pubmed_abstracts.jsonl:12" if i < 3 else None])
    con.execute("INSERT INTO leakage_clean_metrics VALUES ('leak1', 'pubmedqa', 'r12', 'acc', 0.40, 40, 0.38, 37, "
                "0.23, 0.54)")
    con.execute("INSERT INTO membership_inference VALUES ('leak1', 'min_k', 0.53, 200, 200, 0.2, 'train', 'heldout', 0.47, 0.59)")
    for c in range(3):
        con.execute("INSERT INTO canary_exposure VALUES ('leak1', ?, ?, ?, ?, 1000, ?, 'mrn', 'MRN 000')",
                    [f"canary-{c}", 10 ** c, [1.2, 3.5, 9.97][c], [435, 88, 1][c], c == 2])
    con.execute("INSERT INTO robustness_audits VALUES ('rob1', 'smollm2-dapt', 'medqa_usmle', 'multiple_choice', "
                "'acc', 0.36, 40, '{}', '/nonexistent/giskard.html', '[]', 0, '0.1.0', 12.0, ?)", [T0])
    for p, flip in [("Transform to uppercase", 0.22), ("Add typos", 0.31), ("Punctuation removal", 0.08)]:
        con.execute("INSERT INTO robustness_perturbations VALUES ('rob1', ?, 'acc', 0.36, ?, ?, -0.1, 0.02, ?, 30, "
                    "0.2, ?)", [p, 0.36 - flip / 3, -flip / 3, flip, flip > 0.2])
