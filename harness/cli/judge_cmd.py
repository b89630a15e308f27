"""``medtune judge check``: a rubric judge's agreement with human criterion-level labels."""

from __future__ import annotations

import json
from typing import Optional

import typer

from harness.cli.common import DB_OPT, console
from harness.errors import MedtuneError

judge_app = typer.Typer(help="Rubric judges: check one against human labels, compare two.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(judge_app, name="judge")


@judge_app.command("check")
def check_cmd(
    judge: list[str] = typer.Option(..., "--judge", help="mock | hf:<model> | http://host:port/v1; repeat to compare"),
    labels: str = typer.Option(..., "--labels", help="JSONL of human criterion-level labels (prompt, completion, "
                               "criterion, met | binary_labels)"),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="The model an endpoint judge is asked for"),
    judge_key_env: Optional[str] = typer.Option(None, "--judge-key-env", help="Environment variable holding the API key"),
    judge_concurrency: int = typer.Option(8, "--judge-concurrency", help="Judge calls in flight at once"),
    judge_timeout: float = typer.Option(60.0, "--judge-timeout", help="Seconds per judge call"),
    seed: int = typer.Option(1234, help="Seed of the bootstrap CIs"),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    db: Optional[str] = DB_OPT,
):
    """Agreement of each judge with the labels: macro F1, Cohen's kappa, accuracy (95% bootstrap CIs); stored."""
    from harness import settings
    from harness.judge import configure, make_judge
    from harness.judge.agreement import agreement, check_judge, read_labels
    from harness.store import Store

    if fmt not in ("table", "json"):
        raise MedtuneError(f"--format {fmt}: expected table or json")
    configure(concurrency=judge_concurrency, timeout=judge_timeout, key_env=judge_key_env)
    labelled = read_labels(labels)
    store = Store(settings.db_path(db))
    store.check()
    judges = [make_judge(spec, judge_model) for spec in dict.fromkeys(judge)]
    for j in judges:
        j.check()
    results = [check_judge(j, labelled, store=store, labels_path=labels, seed=seed) for j in judges]
    between = None
    if len(results) == 2:  # the two judges against each other, on the criteria both gave a verdict on
        both = [(a, b) for a, b in zip(results[0]["verdicts"], results[1]["verdicts"]) if a is not None and b is not None]
        between = agreement([a for a, _ in both], [b for _, b in both], seed=seed)
    if fmt == "json":
        print(json.dumps({"labels": labels, "judges": [{k: v for k, v in r.items() if k != "verdicts"} for r in results],
                          "between_judges": between}, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=f"judge agreement with {labels} ({len(labelled)} labelled criteria; 95% bootstrap CI)")
    for col in ("judge", "n", "judge_failed", "macro F1", "Cohen's kappa", "accuracy"):
        table.add_column(col)
    for r in results:
        table.add_row(r["judge_id"], str(r["n"]), str(r["n_failed"]), _ci(r, "macro_f1"), _ci(r, "kappa"),
                      _ci(r, "accuracy"))
    if between is not None:
        table.add_row("judge 1 vs judge 2", str(between["n"]), "", _ci(between, "macro_f1"), _ci(between, "kappa"),
                      _ci(between, "accuracy"))
    console.print(table)


@judge_app.command("list")
def list_cmd(db: Optional[str] = DB_OPT):
    """The latest agreement check of each judge (what the dashboard shows beside that judge's scores)."""
    from harness import settings
    from harness.judge.agreement import latest_agreement
    from harness.store import Store

    df = latest_agreement(Store(settings.db_path(db)))
    if df.empty:
        console.print("no judge checked yet: medtune judge check --judge ... --labels FILE")
        return
    for r in df.to_dict("records"):
        console.print(f"{r['judge_id']} ({r['prompt_version']}, {r['labels_path']}): n={r['n']} "
                      f"macro F1 {_ci(r, 'macro_f1')}  kappa {_ci(r, 'kappa')}")


def _ci(r: dict, key: str) -> str:
    if r.get(key) is None:
        return "-"
    return f"{r[key]:.3f} [{r[key + '_low']:.3f}, {r[key + '_high']:.3f}]" if r.get(key + "_low") is not None \
        else f"{r[key]:.3f}"
