"""How far a judge agrees with human criterion-level labels (``medtune judge check``).

A labels file is JSONL, one labelled criterion per line: the conversation (``prompt`` / ``messages``),
the graded response (``completion`` / ``response``), the criterion (``criterion``, or ``rubric`` as
text or {criterion, points}), its ``points`` (default 1) and the human label (``met``: true/false, or
``binary_labels``: a list of physicians' labels, majority vote; a tie is left out) — HealthBench's
meta-evaluation layout reads as is.

Agreement over the criteria the judge gave a verdict on (``judge_failed`` ones are counted, left
out): macro F1 (the mean of the F1 of "met" and of "not met"), Cohen's kappa (agreement beyond
chance) and accuracy, each with a 95% bootstrap CI over criteria.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import numpy as np

from harness.errors import MedtuneError
from harness.judge import PROMPT_VERSION, Item, grade


def read_labels(path) -> list[tuple[Item, bool]]:
    path = Path(path)
    if not path.is_file():
        raise MedtuneError(f"--labels {path}: no such file")
    out = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise MedtuneError(f"{where}: not JSON ({exc.msg})") from None
            msgs = rec.get("messages", rec.get("prompt", rec.get("conversation")))
            if isinstance(msgs, str):
                msgs = [{"role": "user", "content": msgs}]
            if not isinstance(msgs, list) or not all(isinstance(m, dict) and "content" in m for m in msgs):
                raise MedtuneError(f"{where}: 'prompt' (or 'messages') must be a list of {{role, content}}")
            response = rec.get("completion", rec.get("response"))
            if isinstance(response, list) and response and isinstance(response[-1], dict):
                response = response[-1].get("content")
            crit = rec.get("criterion", rec.get("rubric"))
            points = rec.get("points", 1)
            if isinstance(crit, dict):
                crit, points = crit.get("criterion"), crit.get("points", points)
            if not isinstance(response, str) or not isinstance(crit, str) or not crit.strip():
                raise MedtuneError(f"{where}: needs 'completion' (the response text) and 'criterion'")
            if "met" in rec:
                if not isinstance(rec["met"], bool):
                    raise MedtuneError(f"{where}: 'met' is {rec['met']!r}, expected true or false")
                met = rec["met"]
            elif isinstance(rec.get("binary_labels"), list) and rec["binary_labels"]:
                votes = [bool(v) for v in rec["binary_labels"]]
                if 2 * sum(votes) == len(votes):
                    continue  # a tie among the labellers: no human answer to agree with
                met = 2 * sum(votes) > len(votes)
            else:
                raise MedtuneError(f"{where}: needs the human label 'met' (true/false) or 'binary_labels'")
            msgs = tuple({"role": m.get("role", "user"), "content": m["content"]} for m in msgs)
            out.append((Item(msgs, response, crit.strip(), float(points)), met))
    if not out:
        raise MedtuneError(f"--labels {path}: no labelled criteria")
    return out


# -- vectorised statistics (axis=-1 over items; bootstrap resamples ride on the leading axes) -----------------
def _f1(t, p, axis):
    tp, fp, fn = (np.sum(x, axis=axis) for x in (t * p, (1 - t) * p, t * (1 - p)))
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 1.0)


def macro_f1(t, p, axis=-1):
    return (_f1(t, p, axis) + _f1(1 - t, 1 - p, axis)) / 2


def kappa(t, p, axis=-1):
    n = t.shape[axis]
    po = np.mean(t == p, axis=axis)
    pt, pp = np.mean(t, axis=axis), np.mean(p, axis=axis)
    pe = pt * pp + (1 - pt) * (1 - pp)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pe < 1, (po - pe) / np.where(pe < 1, 1 - pe, 1), 1.0) if n else np.nan


def accuracy(t, p, axis=-1):
    return np.mean(t == p, axis=axis)


def agreement(human, judged, seed: int = 0) -> dict:
    from harness.stats import bootstrap_ci

    t, p = np.asarray(human, dtype=float), np.asarray(judged, dtype=float)
    out = {"n": len(t)}
    for name, fn in (("macro_f1", macro_f1), ("kappa", kappa), ("accuracy", accuracy)):
        if len(t) == 0:
            out[name], out[f"{name}_low"], out[f"{name}_high"] = None, None, None
            continue
        point, low, high = bootstrap_ci((t, p), statistic=fn, seed=seed)
        out[name], out[f"{name}_low"], out[f"{name}_high"] = point, low, high
    return out


def check_judge(judge, labelled: list[tuple[Item, bool]], store=None, labels_path=None, seed: int = 0) -> dict:
    """Grade every labelled criterion with ``judge`` (cache first) and measure agreement; stored when ``store``."""
    verdicts = grade(judge, [item for item, _ in labelled], store=store)
    keep = [(met, v.met) for (_, met), v in zip(labelled, verdicts) if not v.failed]
    result = {"judge_id": judge.id, "prompt_version": PROMPT_VERSION, "n_failed": len(labelled) - len(keep),
              **agreement([h for h, _ in keep], [j for _, j in keep], seed=seed),
              "verdicts": [None if v.failed else v.met for v in verdicts]}
    if store is not None:
        sha = hashlib.sha256(Path(labels_path).read_bytes()).hexdigest()[:16] if labels_path else None
        result["check_id"] = uuid.uuid4().hex[:12]
        from harness.store.judge import save_agreement

        save_agreement(store, [result["check_id"], judge.id, PROMPT_VERSION, str(labels_path) if labels_path else None,
                               sha, result["n"], result["n_failed"], result["macro_f1"], result["macro_f1_low"],
                               result["macro_f1_high"], result["kappa"], result["kappa_low"], result["kappa_high"],
                               result["accuracy"]])
    return result


def latest_agreement(store) -> "object":
    """The latest check of each (judge, prompt version, labels file): a DataFrame."""
    from harness.store.judge import latest_agreement as latest

    return latest(store)
