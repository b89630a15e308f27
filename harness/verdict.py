"""The demo's verdict: what a reviewer needs to know about one tuned variant, read from the store.

``collect`` gathers, for a variant already measured by ``medtune forgetting`` (paired against its
parent on the same items), audited by ``medtune audit leakage`` and judged by ``medtune gate``:

- what improved: every suite whose primary metric changed significantly (paired test p < ``alpha``), with
  the variant's answer distribution and whether it beats always answering the commonest gold answer
  (``harness.prior``): a gain that is only the label prior says so;
- what was forgotten: the forgetting index with its CI, and any general task that dropped significantly;
- whether any training text overlaps a suite item (contamination) or a suite's own splits overlap;
- the gate's decision and the checks that failed, with the reason in one line, and what to do next.

``render`` turns that into short lines (at most ``width`` characters) for a terminal. Nothing here
loads a model or trains: it only reads tables, so it is tested on tiny variants.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from harness.forgetting.compare import DOMAIN_SUITES, FORGETTING_TASKS

ALPHA = 0.01  # the demo's bar for "a real change": p < 0.01 on the paired test


@dataclass
class Change:
    """One suite's primary metric, variant vs parent on the same items."""
    suite: str
    metric: str
    higher_is_better: bool
    before: float
    after: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    n: int
    answers: tuple[str, float, str, float] | None = None  # (variant's commonest answer, share, parent's, share)
    primary: bool = True  # the suite's headline metric (acc, or acc_norm for HellaSwag/ARC-Challenge)
    mix: object | None = None         # the variant's harness.prior.AnswerMix on these items (primary metric only)
    parent_mix: object | None = None  # the parent's

    @property
    def gain(self) -> float:
        """The change in the good direction (positive = better)."""
        return self.delta if self.higher_is_better else -self.delta

    def significant(self, alpha: float) -> bool:
        return self.p_value is not None and self.p_value == self.p_value and self.p_value < alpha


@dataclass
class Verdict:
    variant: str
    parent: str | None
    alpha: float = ALPHA
    changes: list[Change] = field(default_factory=list)
    forgetting_index: float | None = None
    fi_ci: tuple[float, float] | None = None
    fi_tasks: list[str] = field(default_factory=list)
    contamination: dict[str, tuple[int, int]] | None = None  # suite -> (contaminated, items); None: no audit
    split_overlap: list[dict] = field(default_factory=list)  # suite, split_a, split_b, exact, near
    gate_passed: bool | None = None  # None: the gate did not run
    gate_checks: int = 0
    gate_failed: list[tuple[str, str]] = field(default_factory=list)  # (label, detail)
    gate_policy: str = ""
    gate_reason: str = ""  # why the gate failed, in one line (``gate_reason``)
    prior_only: list[str] = field(default_factory=list)  # suites where the gate found the gain to be the label prior

    @property
    def improved(self) -> list[Change]:
        return [c for c in self.changes if c.gain > 0 and c.significant(self.alpha)]

    @property
    def worsened(self) -> list[Change]:
        return [c for c in self.changes if c.gain < 0 and c.significant(self.alpha)]

    @property
    def contaminated(self) -> dict[str, tuple[int, int]]:
        return {s: v for s, v in (self.contamination or {}).items() if v[0]}

    @property
    def real_effect(self) -> bool:
        """At least one suite improved significantly (what the demo sets out to show)."""
        return bool(self.improved)


def _primary(suite: str, metrics: set[str]) -> str:
    for table in (FORGETTING_TASKS, DOMAIN_SUITES):
        if suite in table and table[suite] in metrics:
            return table[suite]
    for m in ("acc", "f1", "word_perplexity", "acc_norm"):
        if m in metrics:
            return m
    return sorted(metrics)[0]


def _changes(store, variant: str) -> tuple[str | None, list[Change]]:
    """Every (suite, metric) compared with the parent, each suite's primary metric first."""
    from harness.store import forgetting as stored

    df = stored.rows(store, variant, "parent")
    if df.empty:
        return None, []
    out = []
    for suite, rows in df.groupby("suite", sort=False):
        primary = _primary(suite, set(rows.metric))
        for _, r in sorted(rows.iterrows(), key=lambda x: x[1].metric != primary):
            out.append(Change(suite, str(r.metric), bool(r.higher_is_better), float(r.reference_value),
                              float(r.variant_value), float(r.delta), float(r.ci_low), float(r.ci_high),
                              float(r.p_value), str(r.test), int(r.n), primary=r.metric == primary))
            if r.metric == primary:
                c = out[-1]
                c.mix, c.parent_mix = _answer_mixes(store, r.variant_run, r.reference_run)
                if c.mix is not None and c.parent_mix is not None and c.mix.top and c.parent_mix.top:
                    c.answers = (c.mix.top, c.mix.top_share, c.parent_mix.top, c.parent_mix.top_share)
    return str(df.reference.iloc[0]), out


def _answer_mixes(store, variant_run, reference_run):
    """The variant's and the parent's answer distributions on the compared items (None: no answers to count)."""
    from harness.prior import mixes

    found = mixes(store, [variant_run, reference_run])
    return found.get(variant_run), found.get(reference_run)


PRIOR_RULES = ("beats_majority_baseline", "max_answer_share")


def gate_reason(store, report) -> tuple[str, list[str]]:
    """Why the gate failed, in one line, and the suites where the failure is a prior-only gain: the answer
    prior first (what the variant answers, and that always answering the commonest gold answer does as
    well), then each metric that dropped (before -> after, p), then any other failed check by its label."""
    from harness.prior import fmt_p, run_mix
    from harness.store.runs import latest_metric, latest_run_id

    failed = list(report.failed)
    parts, prior = [], []
    for suite in dict.fromkeys(r.suite for r in failed if r.rule in PRIOR_RULES and r.suite):
        prior.append(suite)
        mix = run_mix(store, latest_run_id(store, report.candidate, suite))
        if mix is None or mix.top is None:
            parts.append(f"{suite}: the gain is the label prior")
            continue
        better = "no better than" if mix.acc <= mix.majority_acc else "not significantly better than"
        parts.append(f"{suite}: prior-only gain (answers {mix.name(mix.top)} on {mix.top_share:.0%} of items, "
                     f"{better} always answering {mix.name(mix.majority)}, {fmt_p(mix.p_value)})")
    for r in failed:
        if r.rule == "max_drop" and r.status == "fail" and r.metric and report.baseline:
            before = latest_metric(store, report.baseline, r.suite, r.metric)
            after = latest_metric(store, report.candidate, r.suite, r.metric)
            if before is not None and after is not None:
                parts.append(f"{r.suite} {r.metric} dropped {before['value']:.2f} -> {after['value']:.2f} "
                             f"({fmt_p(r.p_value)})")
                continue
        if r.rule not in PRIOR_RULES or not r.suite:
            parts.append(r.label)
    return "; ".join(parts), prior


def collect(store, variant: str, gate_report=None, alpha: float = ALPHA) -> Verdict:
    """The verdict on ``variant`` from the store's forgetting, leakage and (given) gate results."""
    from harness.store.forgetting import latest_summary
    from harness.store.leakage import contamination_counts, latest_audit_with, split_overlap

    parent, changes = _changes(store, variant)
    v = Verdict(variant, parent, alpha, changes)
    r = latest_summary(store, variant, None, "parent")
    if r is not None and r["forgetting_index"] == r["forgetting_index"]:
        v.forgetting_index, v.fi_ci = float(r["forgetting_index"]), (float(r["fi_ci_low"]), float(r["fi_ci_high"]))
        v.fi_tasks = [t for t in FORGETTING_TASKS if t in str(r["fi_tasks"])]
    audit = latest_audit_with(store, variant, "leakage_items")
    if audit:
        counts = contamination_counts(store, audit)
        v.contamination = {r.suite: (int(r.contaminated), int(r["items"])) for _, r in counts.iterrows()}
        v.split_overlap = split_overlap(store, audit)
    if gate_report is not None:
        v.gate_passed = gate_report.passed
        v.gate_checks = len(gate_report.results)
        v.gate_failed = [(r.label, r.detail) for r in gate_report.failed]
        v.gate_policy = _shown_path(gate_report.policy_path)
        if not gate_report.passed:
            v.gate_reason, v.prior_only = gate_reason(store, gate_report)
    return v


# -- terminal text ----------------------------------------------------------------------------
def _p(p: float) -> str:
    if p is None or p != p:
        return "p=n/a"
    return f"p={p:.2g}" if p >= 1e-4 else "p<0.0001"


def _pm(c: Change) -> str:
    """``+0.200 ±0.090`` (the half-width of the 95% CI around the change)."""
    half = (c.ci_high - c.ci_low) / 2
    return f"{c.delta:+.3f} ±{half:.3f}"


def change_text(c: Change) -> str:
    arrow = "" if c.higher_is_better else " (lower is better)"
    return (f"{c.suite} {c.metric}{arrow} {c.before:.3f} -> {c.after:.3f}: {_pm(c)} "
            f"(95% CI [{c.ci_low:+.3f}, {c.ci_high:+.3f}], {c.test} {_p(c.p_value)}, n={c.n})")


def headline(v: Verdict) -> str:
    def name(c):
        return c.suite if c.primary else f"{c.suite} {c.metric}"

    def prior(c):  # a gain no better than always answering the commonest gold answer
        return " (label prior only)" if c.mix is not None and not c.mix.beats(v.alpha) else ""

    learned = ", ".join(f"{name(c)} {c.delta:+.2f}{prior(c)}" for c in v.improved) or "nothing significant"
    forgot = ", ".join(f"{name(c)} {c.delta:+.2f}" for c in v.worsened) or "nothing significant"
    gate = {True: "gate PASS", False: "gate FAIL", None: "gate not run"}[v.gate_passed]
    return f"{v.variant}: learned {learned}; lost {forgot}; {gate}"


def lines(v: Verdict, db_path: str | None = None) -> list[tuple[str, str]]:
    """(label, text) pairs: the verdict as a reviewer reads it."""
    out: list[tuple[str, str]] = []
    against = f"vs its parent {v.parent}, same items, paired tests" if v.parent else "no parent comparison"
    out.append(("variant", f"{v.variant} ({against}; significant means p < {v.alpha:g})"))
    if not v.changes:
        out.append(("improved", f"not measured: run `medtune forgetting --variant {v.variant}`"))
    for c in v.improved:
        out.append(("improved", change_text(c)))
        if c.mix is not None and c.mix.top is not None:
            m, pm = c.mix, c.parent_mix
            parent = f"; parent: {pm.name(pm.top)} on {pm.top_share:.0%}" if pm is not None and pm.top else ""
            out.append(("", f"answers {m.name(m.top)} on {m.top_share:.0%} of items (gold: {m.top_gold_share:.0%}"
                            f"{parent})"))
            out.append(("", m.baseline_text(v.alpha) + ("; the gain is the label prior, not the task"
                                                      if not m.beats(v.alpha) else "")))
        elif c.answers:
            a, share, pa, pshare = c.answers
            out.append(("", f"commonest answer: {a!r} on {share:.0%} of items (parent: {pa!r} on {pshare:.0%})"
                            + ("; the gain is mostly a shift to one answer" if share >= 0.9 > pshare else "")))
    for c in v.changes:  # a collapsed run that did not improve significantly is named too
        if c.primary and c not in v.improved and c.mix is not None and c.mix.collapsed:
            out.append(("answers", f"{c.suite}: {c.mix.answers_text()}; {c.mix.baseline_text(v.alpha)}"))
    if v.changes and not v.improved:
        best = max((c for c in v.changes if c.primary), key=lambda c: c.gain)
        out.append(("improved", f"nothing significant; largest change {change_text(best)}"))
    if v.forgetting_index is not None:
        lo, hi = v.fi_ci
        out.append(("forgot", f"forgetting index {v.forgetting_index:+.3f} (95% CI [{lo:+.3f}, {hi:+.3f}]; "
                              f"mean drop over {', '.join(v.fi_tasks)})"))
    elif v.changes:
        out.append(("forgot", "no forgetting index (hellaswag, arc_challenge, winogrande not scored)"))
    for c in v.worsened:
        out.append(("worse", change_text(c)))
    if v.changes and not v.worsened:
        out.append(("worse", f"nothing dropped significantly ({len(v.changes)} suite x metric pairs compared)"))
    if v.contamination is None:
        out.append(("leakage", f"not audited: run `medtune audit leakage --variant {v.variant}`"))
    else:
        items = sum(n for _, n in v.contamination.values())
        bad = v.contaminated
        if bad:
            worst = ", ".join(f"{s} {k}/{n}" for s, (k, n) in sorted(bad.items(), key=lambda x: -x[1][0]))
            out.append(("leakage", f"training text overlaps {sum(k for k, _ in bad.values())} of {items:,} "
                                   f"suite items: {worst}"))
        else:
            out.append(("leakage", f"no training text overlaps any of {items:,} items in "
                                   f"{len(v.contamination)} suites (13-gram or near-duplicate)"))
        measured = {c.suite for c in v.changes}
        for r in v.split_overlap:  # the splits of the suites the verdict is about
            if r["suite"] in measured:
                out.append(("splits", f"{r['suite']} {r['split_a']}/{r['split_b']}: {r['exact']} exact, "
                                      f"{r['near']} near-duplicate items shared"))
    if v.gate_passed is None:
        out.append(("gate", "not run"))
    elif v.gate_passed:
        out.append(("gate", f"PASS: all {v.gate_checks} checks of {v.gate_policy} passed"))
    else:
        out.append(("gate", f"FAIL: {len(v.gate_failed)} of {v.gate_checks} checks of {v.gate_policy} failed"
                            + (f": {v.gate_reason}" if v.gate_reason else "")))
        for label, detail in v.gate_failed:
            out.append(("", f"{label}: {detail}"))
    for advice in next_steps(v):
        out.append(("do next", advice))
    if db_path:
        out.append(("next", f"medtune dashboard --db {db_path}"))
    return out


def next_steps(v: Verdict) -> list[str]:
    """What a user should do after this verdict (nothing when the gate passed)."""
    if v.gate_passed is not False:
        return []
    out = []
    if v.prior_only:
        suites = ", ".join(v.prior_only)
        out.append(f"do not ship {v.variant}: on {suites} it learned which answer is common, not how to answer. "
                   "Retrain so that the answer depends on the question: balance the answers in the training data "
                   "(or weight them), train on more of it for longer or with LoRA, and compare acc_norm as well as "
                   "acc; then run the same measurements and `medtune gate` again")
    elif v.gate_failed:
        out.append(f"do not ship {v.variant} yet: fix what the failed checks name, then run `medtune gate` again")
    return out


def render(v: Verdict, db_path: str | None = None, width: int = 80) -> list[str]:
    """The verdict as plain lines no longer than ``width`` (labels in a 10-character column); the
    dashboard command is kept on one line, however long its path."""
    width = max(40, width)
    text = []
    for label, body in lines(v, db_path):
        if label == "next":  # a command to copy: never broken
            text.append(f"{label:<10}{body}")
            continue
        wrapped = textwrap.wrap(body, width=width - 10, break_on_hyphens=False, break_long_words=False) or [""]
        text.append(f"{label:<10}{wrapped[0]}")
        text += [" " * 10 + w for w in wrapped[1:]]
    return text


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it lies under it (shorter to read)."""
    from pathlib import Path

    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)
