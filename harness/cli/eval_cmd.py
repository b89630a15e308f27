"""``medtune eval``, ``results``, ``suites``, ``models``."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from harness.cli.common import (BACKEND_OPT, DATA_OPT, DB_OPT, check_processes, console, err_console, parse_options,
                                progress_bar, relaunch_if_asked)
from harness.errors import MedtuneError


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("results")(results_cmd)
    app.command("suites")(suites_cmd)
    app.command("models")(models_cmd)


def eval_cmd(
    variant: str = typer.Option(..., "--variant", "-v", help="Variant name, built-in model, HF directory, adapter dir or hub id"),
    suite: list[str] = typer.Option(..., "--suite", "-s", help="Suite name, a family (medical_qa) or all; repeatable"),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Score only the first N documents of each suite"),
    engine: str = typer.Option("native", help="native | lm-eval"),
    backend: Optional[str] = BACKEND_OPT,
    num_fewshot: Optional[int] = typer.Option(None, "--num-fewshot", help="Override the suite's few-shot count"),
    seed: int = typer.Option(1234, help="Seed for few-shot sampling and bootstrap CIs"),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Suite option key=value; repeatable"),
    chat_template: bool = typer.Option(False, "--chat-template", help="Prompts through the model's chat template (as lm-eval's --apply_chat_template)"),
    system_prompt: Optional[str] = typer.Option(None, "--system-prompt", help="A system message for every suite (with --chat-template)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
    dtype: str = typer.Option("auto", help="auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16 | float16"),
    batch_size: str = typer.Option("auto", "--batch-size", help="Integer, or auto (largest that fits on GPU)"),
    force: bool = typer.Option(False, "--force", help="Re-run even when an identical run is cached"),
    name: Optional[str] = typer.Option(None, "--name", help="Record results under this variant name"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the checkpoint"),
    db: Optional[str] = DB_OPT,
    data_root: Optional[str] = DATA_OPT,
    suites_dir: Optional[list[str]] = typer.Option(None, "--suites-dir", help="A folder of your suite files (env MEDTUNE_SUITES); repeatable"),
    lmeval_include: Optional[list[str]] = typer.Option(None, "--lmeval-include", help="A folder of lm-eval task files, for --suite lmeval:TASK; repeatable"),
    processes: int = typer.Option(1, "--processes", help="Split the documents over N local processes (one per GPU; "
                                  "gloo on CPU); rank 0 writes the run. Or run under torchrun / accelerate launch"),
    load_in_4bit: bool = typer.Option(False, "--load-in-4bit", help="nf4 weights (bitsandbytes): a model ~4x smaller"),
    load_in_8bit: bool = typer.Option(False, "--load-in-8bit", help="int8 weights (bitsandbytes)"),
    device_map: Optional[str] = typer.Option(None, "--device-map", help="auto: spread the layers over the GPUs "
                                             "(a model bigger than one GPU)"),
    judge: Optional[str] = typer.Option(None, "--judge", help="Rubric suites: mock | hf:<model> | http://host:port/v1 "
                                        "(OpenAI-compatible); part of the run's protocol"),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="The model an endpoint judge is asked for"),
    judge_key_env: Optional[str] = typer.Option(None, "--judge-key-env", help="Environment variable holding the "
                                                "endpoint's API key (read at call time, never stored)"),
    judge_concurrency: int = typer.Option(8, "--judge-concurrency", help="Judge calls in flight at once (endpoint)"),
    judge_timeout: float = typer.Option(60.0, "--judge-timeout", help="Seconds per judge call before it is retried"),
):
    """Score a variant on suites; results (per sample, with CIs) go to the DuckDB file.

    --suite takes a suite name, a family, all, a suite file or folder (./my_suite.yaml), or lmeval:TASK."""
    from suites import add_lmeval_include, add_suite_dirs

    add_suite_dirs(suites_dir)
    add_lmeval_include(lmeval_include)
    from harness import distributed, settings
    from harness.evaluate import RunSettings, prepare
    from harness.store import Store

    if load_in_4bit and load_in_8bit:
        raise MedtuneError("--load-in-4bit and --load-in-8bit: choose one")
    from harness.judge import configure

    configure(concurrency=judge_concurrency, timeout=judge_timeout, key_env=judge_key_env)
    judge_options = {**({"judge": judge} if judge else {}), **({"judge_model": judge_model} if judge_model else {})}
    run_settings = RunSettings(limit=limit, num_fewshot=num_fewshot, seed=seed,
                               options={**parse_options(option), **judge_options},
                               engine=engine, backend=backend, device=device, dtype=dtype, batch_size=batch_size,
                               force=force, quantize="4bit" if load_in_4bit else "8bit" if load_in_8bit else None,
                               device_map=device_map, chat_template=chat_template, system_prompt=system_prompt)
    if processes > 1 and device_map:
        raise MedtuneError("--device-map auto spreads one model over the GPUs; --processes puts one model per "
                           "GPU: choose one")
    check_processes(processes)
    store = Store(settings.db_path(db))
    # everything (settings, DB, model name, suites, data) is checked once, here, before any process starts or
    # any model is loaded: a mistake is one line, not one per process
    ev = prepare(variant, suite, run_settings, store=store, data_root=settings.data_root(data_root), name=name,
                 trust_remote_code=trust_remote_code)
    if processes > 1 and (run_settings.engine != "native" or any(getattr(p.suite, "lmeval_task", False)
                                                                 for p in ev.planned)):
        raise MedtuneError("--processes splits documents for the native engine only; run --engine lm-eval and "
                           "lmeval: suites in one process (leave out --processes)")
    if distributed.is_main() and not distributed.child_of_processes():  # said once (--processes: by the launcher)
        for warning in ev.warnings:
            err_console.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)
    relaunch_if_asked(processes)
    main = distributed.is_main()
    with progress_bar() as bar:
        def progress(label, total):
            task = bar.add_task(label, total=total, rate="")

            def advance(n):
                bar.advance(task, n)
                t = bar.tasks[task]
                if t.elapsed:
                    bar.update(task, rate=f"{t.completed / t.elapsed:.1f} req/s")
            return advance

        results = ev.run(progress=progress if main else None,
                         echo=(lambda m: console.print(f"[dim]{m}[/]")) if main else (lambda m: None))
    if not main:  # rank 0 prints the results
        return
    from harness.store.runs import results_table

    from harness.prior import results_hook as answers_hook

    print_results(answers_hook(results_table(store, variants=[results[0].variant], suites=[r.suite for r in results]),
                               store))


def check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise MedtuneError(f"--format {fmt}: expected {', '.join(allowed[:-1])} or {allowed[-1]}")


def print_results(df, fmt: str = "table") -> None:
    if fmt == "json":
        console.print_json(df.to_json(orient="records", date_format="iso"))
        return
    if fmt == "csv":
        print(df.to_csv(index=False), end="")
        return
    if df.empty:
        console.print("no results yet: run `medtune eval --variant smollm2-135m --suite medical_qa --limit 20`")
        return
    from rich import box
    from rich.markup import escape

    from harness.terminal import pm, print_fitted
    from suites._types.declarations import higher_is_better

    rows = []
    for row in df.itertuples():
        has_ci = row.ci_low is not None and row.ci_low == row.ci_low
        ci = f"[{row.ci_low:.3f}, {row.ci_high:.3f}]" if has_ci else ""
        down = not higher_is_better(row.metric, None, getattr(row, "higher_is_better", None))
        n = "" if row.n_samples is None or row.n_samples != row.n_samples else str(int(row.n_samples))
        proto = getattr(row, "protocol", None)
        engine = row.engine + (f" · {proto}" if isinstance(proto, str) and proto else "")  # suites._protocol label
        rows.append((row.suite, row.variant, row.metric + (" ↓" if down else ""), f"{row.value:.3f}", ci,
                     pm(row.value, row.ci_low, row.ci_high) if has_ci else f"{row.value:.3f}", n, engine))
    title = "results (latest run per variant x suite; 95% bootstrap CI; ↓ lower is better)"
    wide = Table(title=title)
    for col in ("suite", "variant", "metric", "value", "95% CI", "n", "engine · protocol"):
        wide.add_column(col, justify="right" if col in ("value", "n") else "left", no_wrap=True)
    narrow = Table(title="results: latest run, value ±95% CI half-width (↓ lower is better)", box=box.SIMPLE_HEAD,
                   pad_edge=False)
    for col in ("suite", "variant", "metric", "value ±CI", "n"):
        narrow.add_column(col, justify="right" if col in ("value ±CI", "n") else "left", no_wrap=True)
    for suite, variant, metric, value, ci, both, n, engine in rows:
        wide.add_row(escape(suite), escape(variant), metric, value, ci, n, engine)
        narrow.add_row(escape(suite), escape(variant), metric, both, n)
    print_fitted(console, [wide, narrow], title, ("suite", "variant", "", "n"),
                 [(s, v, f"{m} {b}", f"n={n}" if n else "") for s, v, m, _, _, b, n, _ in rows])
    print_answer_flags(df)


def print_answer_flags(df) -> None:
    """Below the table, in any layout: each run that chose one answer on >= 90% of its items (with its
    majority-class baseline), and the other runs that do not beat theirs (``harness.prior``)."""
    import textwrap

    from rich.markup import escape

    from harness.prior import flag_lines

    lines, note = flag_lines(df)
    width = max(40, console.width)
    for line in lines:
        for k, part in enumerate(textwrap.wrap("FLAG " + line, width=width, subsequent_indent="     ",
                                               break_long_words=False, break_on_hyphens=False)):
            console.print(f"[bold yellow]{escape(part)}[/]" if k == 0 else escape(part), highlight=False,
                          soft_wrap=True)
    if note:
        for part in textwrap.wrap(note, width=width, break_long_words=False, break_on_hyphens=False):
            console.print(f"[dim]{escape(part)}[/]", highlight=False, soft_wrap=True)


def results_cmd(
    fmt: str = typer.Option("table", "--format", "-f", help="table | json | csv"),
    variant: Optional[list[str]] = typer.Option(None, "--variant", "-v", help="Only these variants"),
    suite: Optional[list[str]] = typer.Option(None, "--suite", "-s", help="Only these suites"),
    db: Optional[str] = DB_OPT,
):
    """Variant x suite table of the latest results with 95% CIs."""
    from harness import settings
    from harness.store import Store
    from harness.store.runs import results_table

    check_format(fmt, ("table", "json", "csv"))
    store = Store(settings.db_path(db))
    store.check()
    df = results_table(store, variants=variant or None, suites=suite or None)
    extra = _extra_result_columns()
    for hook in extra:
        df = hook(df, store)
    print_results(df, fmt)


def _extra_result_columns():
    """Hooks that add rows/columns to ``medtune results`` (e.g. the forgetting learn/forget pair)."""
    from harness.prior import results_hook as answers_hook  # each run's answer distribution, majority baseline

    hooks = [answers_hook]
    try:
        from harness.forgetting.report import results_hook  # added by the forgetting suite

        hooks.append(results_hook)
    except ImportError:
        pass
    return hooks


def suites_cmd(
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    check: bool = typer.Option(False, "--check", help="Read every selected suite's data under the data root; exit 2 naming what is missing or malformed"),
    suite: Optional[list[str]] = typer.Option(None, "--suite", "-s", help="Only these suites (names, families or all); repeatable"),
    data_root: Optional[str] = DATA_OPT,
    suites_dir: Optional[list[str]] = typer.Option(None, "--suites-dir", help="A folder of your suite files (env MEDTUNE_SUITES); repeatable"),
):
    """The suites, with family, type, data, version hash and source (shipped, or your folder/file); --check reads their data."""
    from suites import add_suite_dirs, list_suites, load_suite, suite_sources

    add_suite_dirs(suites_dir)

    check_format(fmt, ("table", "json"))
    if suite:
        from harness.evaluate import expand_suite_names

        names = expand_suite_names(suite)
    else:
        names = list_suites()
    rows = []
    sources = suite_sources()
    for name in names:
        s = load_suite(name)
        rows.append({"suite": name, "family": s.spec.family, "type": s.spec.type, "version": s.version,
                     "data": getattr(s.spec.data, "shown", s.spec.data.path), "fewshot": s.num_fewshot,
                     "options": s.spec.options,
                     "description": s.spec.description, "source": sources[name].source if name in sources else "lm-eval"})
    if check:
        _check_data(rows, data_root)
    if fmt == "json":
        console.print_json(json.dumps(rows))
        return
    cols = ("suite", "family", "type", "version", "fewshot", "data", "source", "description")
    if console.width < 160:  # an 80-column terminal: the columns that identify a suite, never cut
        cols = ("suite", "family", "type", "source")
    if check:
        cols = ("suite", "family", "data", "documents")
    table = Table(title="suites" + (" (data checked)" if check else ""))
    for col in cols:
        table.add_column(col, no_wrap=col in ("suite", "family", "type", "data"))
    for r in rows:
        table.add_row(*(str(r[c]) for c in cols))
    console.print(table)
    if check:
        from rich.text import Text

        for r in rows:
            if r.get("prompt"):  # what the model is asked, as the default or the suite's template renders it
                text = r["prompt"] if len(r["prompt"]) <= 300 else "..." + r["prompt"][-300:]
                console.print(Text(f"prompt of {r['suite']} (first document):", style="bold"))
                console.print(Text(text), highlight=False)
            for warning in r.get("warnings", []):
                err_console.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)


def _check_data(rows: list[dict], data_root: Optional[str]) -> None:
    """Load every document of each suite (the same readers eval uses); the first problem is the error. Each
    row also gets the prompt of the first document and the suite's prompt warnings."""
    from harness import settings
    from suites import load_suite

    root = settings.data_root(data_root)
    for row in rows:
        suite = load_suite(row["suite"])
        docs = suite.docs(root, None)
        row["documents"] = len(docs)
        if getattr(suite.spec, "doc_to_text", None):
            row["prompt"] = suite.prompt(docs[0])
        row["warnings"] = suite.prompt_warnings(docs) if hasattr(suite, "prompt_warnings") else []


def models_cmd(db: Optional[str] = DB_OPT):
    """Built-in models and the variants registered in the DB."""
    from harness import settings
    from harness.models import list_models
    from harness.store import Store

    table = Table(title="models")
    for col in ("name", "kind", "source", "description"):
        table.add_column(col)
    seen = set()
    for m in list_models(Store(settings.db_path(db))):
        if m["name"] in seen:  # a built-in model scored once is also a registered variant: listed once
            continue
        seen.add(m["name"])
        table.add_row(m["name"], m["kind"], m["source"], m["description"])
    console.print(table)
