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
    """The audit on the terminal: each table in the widest layout that fits (``harness.terminal``)."""
    from rich.filesize import decimal as _size
    from rich.markup import escape

    from harness.terminal import print_table

    s = audit.summary
    console.print(f"[bold]leakage audit[/] {audit.audit_id} of [bold]{escape(audit.variant)}[/]: "
                  f"{s['training_documents']:,} training documents ({_size(s['training_bytes'])}) against "
                  f"{s['items']:,} suite items in {s['scan_seconds']:.1f} s ({s['mb_per_s']} MB/s)", highlight=False)
    rows = [(escape(name), str(row["items"]), f"[red]{row['contaminated']}[/]" if row["contaminated"] else "0",
             _f(row["max_ngram_overlap"]), _f(row["max_near_dup_jaccard"])) for name, row in sorted(s["suites"].items())]
    print_table(console, f"train/eval contamination ({audit.settings['n']}-gram overlap or MinHash Jaccard >= "
                         f"{audit.settings['threshold']})",
                ("suite", "items", "contaminated", "max n-gram overlap", "max Jaccard"), rows,
                short=("suite", "items", "contam.", "overlap", "Jaccard"))
    worst = sorted((r for r in audit.items if r["contaminated"]), key=lambda r: -max(r["ngram_overlap"], r["near_dup_jaccard"]))
    for r in worst[:top]:
        console.print(f"  [red]{escape(r['suite'])}:{escape(str(r['doc_id']))}[/] overlap {_f(r['ngram_overlap'])} "
                      f"Jaccard {_f(r['near_dup_jaccard'])} <- {escape(str(r['matched_source']))}", highlight=False)
    if audit.clean_metrics:
        rows = [(escape(r["suite"]), r["metric"], _f(r["full_value"]), str(r["full_n"]), _f(r["clean_value"]),
                 f"[{_f(r['clean_ci_low'])}, {_f(r['clean_ci_high'])}]", str(r["clean_n"])) for r in audit.clean_metrics]
        print_table(console, "metrics on all items vs the clean (uncontaminated) subset, 95% bootstrap CI",
                    ("suite", "metric", "full", "n", "clean", "clean 95% CI", "clean n"), rows, left=2)
    if audit.split_overlap:
        rows = [(escape(r["suite"]), r["split_a"], r["split_b"], str(r["n_a"]), str(r["n_b"]), str(r["exact"]),
                 str(r["near"])) for r in audit.split_overlap]
        print_table(console, "overlap between a suite's own splits (items of B found in A)",
                    ("suite", "A", "B", "n A", "n B", "exact", "near-duplicate"), rows,
                    short=("suite", "A", "B", "n A", "n B", "exact", "near"), left=3)
    if audit.membership:
        r0 = audit.membership[0]
        rows = [(r["method"] + (f" (k={r['k']})" if r["k"] else ""), _f(r["auroc"]),
                 f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]") for r in audit.membership]
        print_table(console, f"membership inference: {r0['n_members']} members ({escape(str(r0['members_source']))}) vs "
                             f"{r0['n_nonmembers']} non-members ({escape(str(r0['nonmembers_source']))})",
                    ("method", "AUROC (0.5 = no signal)", "95% CI"), rows, short=("method", "AUROC", "95% CI"))
    if audit.canaries:
        rows = [(c["canary_id"], str(c["repetitions"]), str(c["rank"]), str(c["candidates"]), _f(c["exposure"], 2),
                 _f(c["exposure_extrapolated"], 1), "[red]yes[/]" if c["reproduced"] else "no",
                 escape(repr(c["generation"][:24]))) for c in audit.canaries]
        print_table(console, "planted canaries: exposure of the secret MRN, greedy reproduction",
                    ("canary", "reps", "rank", "|R|", "exposure (bits)", "extrapolated", "reproduced", "greedy output"),
                    rows, short=("canary", "reps", "rank", "|R|", "bits", "extrap.", "repro.", "greedy output"))
        known = [f for f in audit.pii if f["known"]]
        console.print(f"PII scan of the generations: {len(audit.pii)} findings, {len(known)} planted values"
                      + (": " + ", ".join(f"{f['kind']}={f['value']}" for f in known[:top]) if known else ""),
                      highlight=False)
    for key in ("changed_since_training", "unverifiable", "notes"):
        for line in s.get(key) or []:
            console.print(f"[yellow]{key.replace('_', ' ')}:[/] {line}", highlight=False)
    for name, why in (s.get("skipped_suites") or {}).items():
        console.print(f"[dim]skipped suite {name}: {why}[/]", highlight=False)
