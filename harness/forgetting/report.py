"""Printing forgetting results, and the learn/forget rows ``medtune results`` shows."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table


def _ci(low, high) -> str:
    return "" if low is None else f"[{low:+.3f}, {high:+.3f}]"


def print_result(result, console: Console) -> None:
    """Per role: the paired table (the widest layout that fits the terminal, else one line per task),
    then the two summary numbers."""
    from rich import box
    from rich.markup import escape

    from harness.terminal import print_fitted

    for role, comps in result.comparisons.items():
        ref = result.references[role]
        title = f"{result.variant} vs its {role} {ref} (same items; 95% paired CI)"
        wide = Table(title=escape(title))
        for col in ("suite", "metric", result.variant, ref, "delta", "95% CI", "p", "test", "n"):
            wide.add_column(escape(col), justify="left" if col in ("suite", "metric", "test") else "right", no_wrap=True)
        narrow = Table(title=escape(f"{result.variant} vs its {role} {ref}: same items, delta ±95% CI half-width"),
                       box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("suite", "metric", role, "variant", "delta ±CI", "p", "n"):
            narrow.add_column(col, justify="left" if col in ("suite", "metric") else "right", no_wrap=True)
        rows = []
        for c in comps:
            worse = (c.delta < 0) == c.higher_is_better and c.ci_high * c.ci_low > 0
            style = "red" if worse else ("green" if c.ci_low * c.ci_high > 0 else "")
            metric = c.metric + ("" if c.higher_is_better else " ↓")
            delta = f"[{style}]{c.delta:+.4f}[/]" if style else f"{c.delta:+.4f}"
            half = f"{c.delta:+.3f} ±{(c.ci_high - c.ci_low) / 2:.3f}"
            wide.add_row(c.suite, metric, f"{c.variant_value:.4g}", f"{c.reference_value:.4g}", delta,
                         _ci(c.ci_low, c.ci_high), f"{c.p_value:.3g}", c.test, str(c.n))
            narrow.add_row(c.suite, metric, f"{c.reference_value:.4g}", f"{c.variant_value:.4g}",
                           f"[{style}]{half}[/]" if style else half, f"{c.p_value:.2g}", str(c.n))
            rows.append((c.suite, metric, f"{c.reference_value:.4g} -> {c.variant_value:.4g}", half,
                         f"p={c.p_value:.2g} ({c.test})", f"n={c.n}"))
        print_fitted(console, [wide, narrow], title, ("", "", "", "", "", ""), rows, group=0, label=1)
        s = result.summaries[role]
        fi = f"{s.forgetting_index:+.4f} {_ci(*s.fi_ci)} over {', '.join(s.fi_tasks)}" if s.fi_tasks else "n/a (no forgetting tasks scored)"
        dg = f"{s.domain_gain:+.4f} {_ci(*s.dg_ci)} over {', '.join(s.dg_suites)}" if s.dg_suites else "n/a (no medical QA suites scored)"
        console.print(f"[bold]vs {role} {escape(ref)}[/]: forgetting index (mean drop) {fi}\n"
                      f"  domain gain (mean change) {dg}", highlight=False)


def results_hook(df: pd.DataFrame, store) -> pd.DataFrame:
    """Append each variant's learn/forget pair to the results table, as rows of a pseudo-suite."""
    from harness.store.forgetting import summaries

    summary = summaries(store)  # the store migrates on open: the table exists (empty for a new DB)
    if summary.empty:
        return df
    if not df.empty:
        summary = summary[summary.variant.isin(df.variant.unique())]
    rows = []
    for r in summary.itertuples():
        suite = f"learn/forget vs {r.reference_role}"
        rows.append({"variant": r.variant, "suite": suite, "engine": "native", "n_samples": None, "metric": "domain_gain",
                     "value": r.domain_gain, "ci_low": r.dg_ci_low, "ci_high": r.dg_ci_high, "higher_is_better": True})
        rows.append({"variant": r.variant, "suite": suite, "engine": "native", "n_samples": None,
                     "metric": "forgetting_index", "value": r.forgetting_index, "ci_low": r.fi_ci_low,
                     "ci_high": r.fi_ci_high, "higher_is_better": False})  # a drop: lower is better
    extra = pd.DataFrame(rows).dropna(subset=["value"])
    return pd.concat([df, extra], ignore_index=True) if not extra.empty else df
