"""A leakage audit into the store (one transaction, all tables or none) and onto the terminal."""

from __future__ import annotations

from harness.leakage.audit import Audit


def write(store, audit: Audit) -> None:
    """The audit and all its tables in one transaction (harness.store.leakage)."""
    from harness.store.leakage import write_audit
    from harness.store.records import LeakageAudit

    tables = {"leakage_items": audit.items, "leakage_clean_metrics": audit.clean_metrics,
              "split_overlap": audit.split_overlap, "membership_inference": audit.membership,
              "canary_exposure": audit.canaries, "pii_findings": audit.pii}
    write_audit(store, LeakageAudit(audit_id=audit.audit_id, variant=audit.variant, settings=audit.settings,
                                    summary=audit.summary), {t: rows for t, rows in tables.items() if rows})


def _f(value, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def render(console, audit: Audit, top: int = 5) -> None:
    from rich.filesize import decimal as _size
    from rich.table import Table

    s = audit.summary
    console.print(f"[bold]leakage audit[/] {audit.audit_id} of [bold]{audit.variant}[/]: "
                  f"{s['training_documents']:,} training documents ({_size(s['training_bytes'])}) against "
                  f"{s['items']:,} suite items in {s['scan_seconds']:.1f} s ({s['mb_per_s']} MB/s)")
    t = Table(title=f"train/eval contamination ({audit.settings['n']}-gram overlap or MinHash Jaccard >= "
                    f"{audit.settings['threshold']})")
    for col in ("suite", "items", "contaminated", "max n-gram overlap", "max Jaccard"):
        t.add_column(col, justify="left" if col == "suite" else "right")
    for name, row in sorted(s["suites"].items()):
        style = "red" if row["contaminated"] else ""
        t.add_row(name, str(row["items"]), f"[{style}]{row['contaminated']}[/]" if style else "0",
                  _f(row["max_ngram_overlap"]), _f(row["max_near_dup_jaccard"]))
    console.print(t)
    worst = sorted((r for r in audit.items if r["contaminated"]), key=lambda r: -max(r["ngram_overlap"], r["near_dup_jaccard"]))
    for r in worst[:top]:
        console.print(f"  [red]{r['suite']}:{r['doc_id']}[/] overlap {_f(r['ngram_overlap'])} "
                      f"Jaccard {_f(r['near_dup_jaccard'])} <- {r['matched_source']}", highlight=False)
    if audit.clean_metrics:
        t = Table(title="metrics on all items vs the clean (uncontaminated) subset, 95% bootstrap CI")
        for col in ("suite", "metric", "full", "n", "clean", "clean 95% CI", "clean n"):
            t.add_column(col, justify="left" if col in ("suite", "metric") else "right")
        for r in audit.clean_metrics:
            t.add_row(r["suite"], r["metric"], _f(r["full_value"]), str(r["full_n"]), _f(r["clean_value"]),
                      f"[{_f(r['clean_ci_low'])}, {_f(r['clean_ci_high'])}]", str(r["clean_n"]))
        console.print(t)
    if audit.split_overlap:
        t = Table(title="overlap between a suite's own splits (items of B found in A)")
        for col in ("suite", "A", "B", "n A", "n B", "exact", "near-duplicate"):
            t.add_column(col, justify="left" if col in ("suite", "A", "B") else "right")
        for r in audit.split_overlap:
            t.add_row(r["suite"], r["split_a"], r["split_b"], str(r["n_a"]), str(r["n_b"]), str(r["exact"]), str(r["near"]))
        console.print(t)
    if audit.membership:
        r0 = audit.membership[0]
        t = Table(title=f"membership inference: {r0['n_members']} members ({r0['members_source']}) vs "
                        f"{r0['n_nonmembers']} non-members ({r0['nonmembers_source']})")
        t.add_column("method")
        t.add_column("AUROC (0.5 = no signal)", justify="right")
        t.add_column("95% CI", justify="right")
        for r in audit.membership:
            t.add_row(r["method"] + (f" (k={r['k']})" if r["k"] else ""), _f(r["auroc"]),
                      f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]")
        console.print(t)
    if audit.canaries:
        t = Table(title="planted canaries: exposure of the secret MRN, greedy reproduction")
        for col in ("canary", "reps", "rank", "|R|", "exposure (bits)", "extrapolated", "reproduced", "greedy output"):
            t.add_column(col, justify="left" if col in ("canary", "greedy output") else "right")
        for c in audit.canaries:
            t.add_row(c["canary_id"], str(c["repetitions"]), str(c["rank"]), str(c["candidates"]), _f(c["exposure"], 2),
                      _f(c["exposure_extrapolated"], 1), "[red]yes[/]" if c["reproduced"] else "no",
                      repr(c["generation"][:24]))
        console.print(t)
        known = [f for f in audit.pii if f["known"]]
        console.print(f"PII scan of the generations: {len(audit.pii)} findings, {len(known)} planted values"
                      + (": " + ", ".join(f"{f['kind']}={f['value']}" for f in known[:top]) if known else ""))
    for key in ("changed_since_training", "unverifiable", "notes"):
        for line in s.get(key) or []:
            console.print(f"[yellow]{key.replace('_', ' ')}:[/] {line}", highlight=False)
    for name, why in (s.get("skipped_suites") or {}).items():
        console.print(f"[dim]skipped suite {name}: {why}[/]", highlight=False)
