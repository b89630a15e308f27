"""Did the model learn the task, or only a prior? Read from a run's stored per-sample rows (prediction,
gold, the options offered), at read time, for ``medtune results``, the verdict, the gate and the dashboard:

- the **answer distribution**: the share of items on which each answer was chosen, the commonest answer's
  share, and the gold distribution of the same items;
- the **majority-class baseline**: always answering the commonest gold answer of the scored items, and
  whether the run beats it: an exact one-sided McNemar test on the same items (scipy's binomial test on
  the items where the two differ: does the run win more of them than it loses?);
- the **reliability** of the options' probabilities (the softmax of their log-likelihoods): the table
  behind a reliability diagram, and its expected calibration error (``harness.stats``: 10 equal-width bins
  over the top option's probability). The calibration metrics themselves (``ece``, ``brier``) are declared
  by the multiple-choice type and stored with every run like the other metrics.

What counts as "an answer": for a multiple-choice run, the option chosen, named by its text when every
item offers the same distinct options (PubMedQA's yes/no/maybe, letter-style options A/B/C), else by its
position (A = the first option; HellaSwag's endings differ per item, so only the position can be a prior);
for a generative run, the extracted answer, when the gold answers are a small label set (at most
``MAX_LABELS`` distinct ones). Other runs (perplexity, NER, free-text answers) have no answer distribution.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

COLLAPSED = 0.9   # `medtune results` flags a run whose commonest answer is chosen on at least this share of items
ALPHA = 0.05      # "beats the majority baseline" at this significance, unless a caller says otherwise
MAX_LABELS = 10   # a generative run is a label run when its gold answers take at most this many values
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class AnswerMix:
    """One run's answers on its scored items, and the majority-class baseline on the same items."""

    n: int                        # items scored
    by: str                       # "option" (the option's text), "position" (A = first option), "label" (generated)
    labels: tuple[str, ...]       # every answer seen, predicted or gold, in the options' order (else sorted)
    counts: dict[str, int]        # predicted answer -> items (a generation with no answer is left out)
    gold_counts: dict[str, int]   # gold answer -> items
    unanswered: int               # items with no answer (a failed extraction)
    top: str | None               # the commonest predicted answer (None: no item answered)
    majority: str                 # the commonest gold answer: what the baseline always answers
    acc: float                    # the run's accuracy on these items
    majority_acc: float           # the baseline's: the majority answer's gold share
    wins: int                     # items the run gets right and the baseline wrong
    losses: int                   # items the baseline gets right and the run wrong
    p_value: float                # exact one-sided McNemar: the run beats the baseline

    @property
    def top_share(self) -> float:
        return self.counts.get(self.top, 0) / self.n if self.top is not None else 0.0

    @property
    def top_gold_share(self) -> float:
        """The gold share of the run's commonest answer: how often that answer is right."""
        return self.gold_counts.get(self.top, 0) / self.n if self.top is not None else 0.0

    def share(self, label: str) -> float:
        return self.counts.get(label, 0) / self.n

    def gold_share(self, label: str) -> float:
        return self.gold_counts.get(label, 0) / self.n

    @property
    def collapsed(self) -> bool:
        return self.top_share >= COLLAPSED

    def beats(self, alpha: float = ALPHA) -> bool:
        return self.p_value < alpha

    def name(self, label: str | None) -> str:
        if label is None:
            return "nothing"
        return f"option {label}" if self.by == "position" else repr(label)

    def answers_text(self) -> str:
        """``answers 'yes' on 100% of items (gold: 55%)``."""
        if self.top is None:
            return f"answers nothing on {self.n} items"
        return f"answers {self.name(self.top)} on {self.top_share:.0%} of items (gold: {self.top_gold_share:.0%})"

    def baseline_text(self, alpha: float = ALPHA) -> str:
        """``beats the majority baseline: no (p=1; always 'yes' scores 0.550, the run 0.550)``."""
        return (f"beats the majority baseline: {'yes' if self.beats(alpha) else 'no'} ({fmt_p(self.p_value)}; "
                f"always {self.name(self.majority)} scores {self.majority_acc:.3f}, the run {self.acc:.3f})")

    def as_dict(self) -> dict:
        return {"n": self.n, "by": self.by, "top_answer": self.top, "top_share": self.top_share,
                "gold_top_share": self.top_gold_share, "shares": {k: self.share(k) for k in self.labels},
                "gold_shares": {k: self.gold_share(k) for k in self.labels}, "unanswered": self.unanswered,
                "majority_answer": self.majority, "majority_acc": self.majority_acc, "acc": self.acc,
                "majority_wins": self.wins, "majority_losses": self.losses, "majority_p": self.p_value}


def fmt_p(p: float) -> str:
    """``p=0.0042``, ``p=1``, ``p<0.0001``."""
    if p is None or p != p:
        return "p=n/a"
    return f"p={p:.2g}" if p >= 1e-4 else "p<0.0001"


def majority_test(correct, baseline_correct) -> tuple[int, int, float]:
    """(wins, losses, p): the exact one-sided McNemar test that the run (``correct``, per item) beats the
    baseline (``baseline_correct``) on the same items; p = 1 when they never differ."""
    from scipy import stats

    a, b = np.asarray(correct, dtype=bool), np.asarray(baseline_correct, dtype=bool)
    wins, losses = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if wins + losses == 0:
        return wins, losses, 1.0
    return wins, losses, float(stats.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue)


# -- labelling the stored rows ---------------------------------------------------------------------
def _json(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _index(value) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _position(i: int) -> str:
    return LETTERS[i] if i < len(LETTERS) else f"#{i + 1}"


def _choice_labels(rows: pd.DataFrame):
    """(by, order, predicted, gold) for a multiple-choice run, else None."""
    preds, golds = [_index(p) for p in rows["prediction"]], [_index(t) for t in rows["target"]]
    if any(p is None for p in preds) or any(g is None for g in golds):
        return None
    options = [_json(o) for o in rows["options"]]
    texts = None
    if all(isinstance(o, list) and o for o in options):
        stripped = [tuple(str(x).strip() for x in o) for o in options]
        same = len(set(stripped)) == 1 and len(set(stripped[0])) == len(stripped[0])
        if max(preds + golds) >= min(len(o) for o in stripped):
            return None
        texts = list(stripped[0]) if same else None
    if texts is not None:
        return "option", texts, [texts[p] for p in preds], [texts[g] for g in golds]
    width = max(preds + golds) + 1
    order = [_position(i) for i in range(width)]
    return "position", order, [order[p] for p in preds], [order[g] for g in golds]


def _generated_labels(rows: pd.DataFrame):
    from suites._extract import normalise

    if any(_missing(t) for t in rows["target"]):
        return None
    golds = [normalise(str(t)) for t in rows["target"]]
    preds = [None if _missing(p) else normalise(str(p)) for p in rows["prediction"]]
    distinct = set(golds)
    if len(distinct) > MAX_LABELS or len(distinct) >= len(golds):  # free text: every gold answer its own
        return None
    return "label", sorted(distinct | {p for p in preds if p is not None}), preds, golds


def answer_mix(rows: pd.DataFrame) -> AnswerMix | None:
    """The answer distribution and majority baseline of one run's rows (``harness.store.runs.sample_answers``);
    None when the run has no answers to count (perplexity, NER, free text) or no rows."""
    if rows is None or len(rows) == 0:
        return None
    choice = rows["loglikelihoods"].notna().all() or rows["options"].notna().all()
    generated = "generated" in rows and all(not _missing(g) and bool(g) for g in rows["generated"])
    found = _choice_labels(rows) if choice else _generated_labels(rows) if generated else None
    if found is None:
        return None
    by, order, preds, golds = found
    n = len(golds)
    counts = Counter(p for p in preds if p is not None)
    gold_counts = Counter(golds)
    rank = {label: i for i, label in enumerate(order)}
    top = min(counts, key=lambda k: (-counts[k], rank.get(k, len(rank)))) if counts else None
    majority = min(gold_counts, key=lambda k: (-gold_counts[k], rank.get(k, len(rank))))
    stored = [None if _missing(c) else bool(c) for c in rows["correct"]]
    correct = np.array([s if s is not None else p == g for s, p, g in zip(stored, preds, golds)], dtype=bool)
    base = np.array([g == majority for g in golds], dtype=bool)
    wins, losses, p = majority_test(correct, base)
    labels = tuple(order) if by != "label" else tuple(sorted(set(order)))
    return AnswerMix(n, by, labels, dict(counts), dict(gold_counts), sum(p is None for p in preds), top, majority,
                     float(correct.mean()), float(base.mean()), wins, losses, p)


def mixes(store, run_ids) -> dict[str, AnswerMix | None]:
    """run_id -> its ``AnswerMix`` (None for a run with no answers to count)."""
    from harness.store.runs import sample_answers

    ids = sorted({r for r in run_ids if isinstance(r, str)})
    df = sample_answers(store, ids)
    out: dict[str, AnswerMix | None] = {r: None for r in ids}
    for run_id, rows in df.groupby("run_id", sort=False):
        out[run_id] = answer_mix(rows.reset_index(drop=True))
    return out


def run_mix(store, run_id: str | None) -> AnswerMix | None:
    return mixes(store, [run_id]).get(run_id) if run_id else None


# -- reliability -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reliability:
    """A multiple-choice run's options' probabilities binned for a reliability diagram."""

    bins: pd.DataFrame   # bin, low, high, items, confidence (mean), accuracy: only the bins with items
    ece: float
    n: int


def reliability(rows: pd.DataFrame) -> Reliability | None:
    """The reliability table of one run's rows (from the stored option log-likelihoods and gold index), with
    its ECE; None for a run without per-option log-likelihoods."""
    from harness.stats import ECE_BINS, calibration_bin, expected_calibration_error, option_probabilities

    if rows is None or len(rows) == 0:
        return None
    conf, correct = [], []
    for lls, target in zip(rows["loglikelihoods"], rows["target"]):
        values, gold = _json(lls), _index(target)
        if not isinstance(values, list) or not values or gold is None or gold >= len(values):
            return None
        probs = option_probabilities(values)
        conf.append(float(probs.max()))
        correct.append(float(int(np.argmax(probs)) == gold))
    conf_a, correct_a = np.array(conf), np.array(correct)
    which = calibration_bin(conf_a)
    table = pd.DataFrame({"bin": which, "confidence": conf_a, "accuracy": correct_a})
    bins = table.groupby("bin").agg(items=("confidence", "size"), confidence=("confidence", "mean"),
                                    accuracy=("accuracy", "mean")).reset_index()
    bins.insert(1, "low", bins["bin"] / ECE_BINS)
    bins.insert(2, "high", (bins["bin"] + 1) / ECE_BINS)
    return Reliability(bins, float(expected_calibration_error(conf_a, correct_a)), len(conf))


# -- `medtune results` -------------------------------------------------------------------------------
MIX_COLUMNS = ("top_answer", "top_share", "gold_top_share", "majority_answer", "majority_acc", "majority_p")


def results_hook(df: pd.DataFrame, store) -> pd.DataFrame:
    """The results table with each run's answer columns (the same on each of its metric rows; empty for a
    run with no answers to count): ``top_answer``, ``top_share``, ``gold_top_share``, ``majority_answer``,
    ``majority_acc`` (the baseline's accuracy), ``majority_p`` (does the run beat it)."""
    if df.empty or "run_id" not in df:
        return df
    found = mixes(store, [r for r in df["run_id"].dropna().unique()])
    out = df.copy()
    for column in MIX_COLUMNS:
        values = []
        for run_id in out["run_id"]:
            mix = found.get(run_id) if isinstance(run_id, str) else None
            if mix is None:
                values.append(None)
            elif column in ("top_answer", "majority_answer"):
                values.append(mix.name(mix.top if column == "top_answer" else mix.majority))
            else:
                values.append({"top_share": mix.top_share, "gold_top_share": mix.top_gold_share,
                               "majority_acc": mix.majority_acc, "majority_p": mix.p_value}[column])
        out[column] = pd.Series(values, index=out.index, dtype=object if column.endswith("answer") else float)
    return out


def flag_lines(df: pd.DataFrame, alpha: float = ALPHA) -> tuple[list[str], str | None]:
    """From a results table with the answer columns: one line per run whose commonest answer is chosen on
    at least ``COLLAPSED`` of its items, and a line counting the other runs that do not beat the majority
    baseline (None when there are none)."""
    if "top_share" not in df:
        return [], None
    runs = df.dropna(subset=["top_share"]).drop_duplicates("run_id")
    lines, weak = [], []
    for r in runs.itertuples():
        beats = r.majority_p < alpha
        text = (f"beats the majority baseline: {'yes' if beats else 'no'} ({fmt_p(r.majority_p)}; "
                f"always {r.majority_answer} scores {r.majority_acc:.3f})")
        if r.top_share >= COLLAPSED:
            lines.append(f"{r.suite} · {r.variant}: answers {r.top_answer} on {r.top_share:.0%} of items "
                         f"(gold: {r.gold_top_share:.0%}); {text}")
        elif not beats:
            weak.append(f"{r.suite} · {r.variant}")
    note = None
    if weak:
        shown = ", ".join(weak[:6]) + (f" and {len(weak) - 6} more" if len(weak) > 6 else "")
        note = (f"{len(weak)} {'other ' if lines else ''}run(s) do not beat always answering their items' commonest gold answer "
                f"(p >= {alpha:g}; --format json: majority_acc, majority_p): {shown}")
    return lines, note
