"""``medtune demo``'s whole loop, as functions: tune, measure against the parent, audit, gate, verdict.

1. **tune** the demo recipe (``demo_sft_pubmedqa``: SmolLM2-135M, SFT on PubMedQA PQA-L's train ids,
   answer-only loss; it never sees the 500 official test ids the ``pubmedqa`` suite scores), or reuse
   the registered variant;
2. **measure** it against its parent on the same items (``medtune forgetting``: PubMedQA, and the
   three general tasks of the forgetting index), paired tests per suite; cached runs are reused;
3. **audit** its training data for overlap with every suite and between PubMedQA's own splits
   (``medtune audit leakage --no-model``; membership inference is left out for time), or reuse the
   latest audit;
4. **gate** it with ``harness/gate/policies/demo.yaml``: besides the floor, the drops and the audits, it
   asks whether the gain is more than the label prior (``beats_majority_baseline``, ``max_answer_share``)
   and judges every declared metric of PubMedQA (``metric: all``: acc_norm and calibration too);
5. the **verdict** (``harness.verdict``): what changed, what the variant answers, the gate's reason in one
   line and what to do next.

Every step reuses what the DB already holds, so a second run only reads, compares and prints.
Here, in the CLI layer, because it tunes (``tuning``); ``harness/cli/demo_cmd.py`` adds the terminal.
Tests run the loop on tiny models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.store import Store
from harness.verdict import ALPHA, Verdict, collect

RECIPE = "demo_sft_pubmedqa"
TASK_SUITES = ["pubmedqa"]
GENERAL_SUITES = ["hellaswag", "arc_challenge", "winogrande"]  # the forgetting index's tasks
POLICY = Path(__file__).parents[1] / "gate" / "policies" / "demo.yaml"
LIMIT = 100         # PubMedQA test items scored per model (paired: the same items for both)
GENERAL_LIMIT = 40   # items per general task


@dataclass
class DemoResult:
    variant: str
    parent: str
    verdict: Verdict
    gate: object  # harness.gate.GateReport
    steps: dict[str, str] = field(default_factory=dict)  # step -> "built" / "reused" / seconds


def build(store: Store, data_root: Path, recipe: str = RECIPE, overrides: dict | None = None,
          echo: Callable[[str], None] = print) -> tuple[str, bool]:
    """The demo variant's name, and whether it was trained now (False: already registered)."""
    from harness.store.variants import get_variant
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    spec = load_recipe(recipe, overrides or {})
    if store.path.exists() and get_variant(store, spec.name) is not None:
        echo(f"{spec.name} is already built; reusing it")
        return spec.name, False
    echo(f"tuning {spec.name}: {spec.method} on {spec.base} ({spec.description})")
    out = tune(spec, TuneContext(store=store, data_root=data_root, output=spec.output_path(), echo=echo))
    lin = out.lineage
    echo(f"registered {out.name}: {lin['tokens_seen']:,} tokens in {lin['wall_s']:.0f}s")
    return out.name, True


def measure(store: Store, data_root: Path, variant: str, limit: int = LIMIT, general_limit: int = GENERAL_LIMIT,
            suites: list[str] | None = None, general: list[str] | None = None, progress=None,
            echo: Callable[[str], None] = print):
    """Variant vs parent (and base) on the same items: the task suites at ``limit``, the general at ``general_limit``."""
    from harness.forgetting.measure import measure as forgetting

    suites = list(TASK_SUITES if suites is None else suites)
    general = list(GENERAL_SUITES if general is None else general)
    return forgetting(store, variant, data_root, suites=suites + general, limit=general_limit,
                      suite_limits={s: limit for s in suites}, progress=progress, echo=echo)


def audit(store: Store, data_root: Path, variant: str, suites: list[str] | None = None, task=None,
          echo: Callable[[str], None] = print) -> bool:
    """Contamination and split-overlap audit of the variant's training data; False when one was reused."""
    from harness.leakage.audit import Settings, run_audit
    from harness.leakage.report import write
    from harness.store.leakage import latest_audit_with

    if latest_audit_with(store, variant, "leakage_items"):
        echo(f"leakage audit of {variant} already in the DB; reusing it")
        return False
    write(store, run_audit(store, variant, data_root, Settings(model=False, suites=suites), **({"task": task} if task else {})))
    return True


def judge(store: Store, variant: str, baseline: str, policy: Path | str = POLICY, record: bool = True):
    from harness.gate import load_policy, record as record_gate, run_gate

    report = run_gate(store, load_policy(policy), variant, baseline, policy_path=str(policy))
    if record:
        record_gate(store, report)
    return report


def run(store: Store, data_root: Path, recipe: str = RECIPE, overrides: dict | None = None, limit: int = LIMIT,
        general_limit: int = GENERAL_LIMIT, suites: list[str] | None = None, general: list[str] | None = None,
        audit_suites: list[str] | None = None, policy: Path | str = POLICY, alpha: float = ALPHA, progress=None, task=None,
        echo: Callable[[str], None] = print) -> DemoResult:
    """The whole loop; each step reuses what the DB holds."""
    from harness.store.variants import get_variant

    variant, built = build(store, data_root, recipe, overrides, echo)
    parent = get_variant(store, variant)["parent"]
    measure(store, data_root, variant, limit, general_limit, suites, general, progress=progress, echo=echo)
    audited = audit(store, data_root, variant, audit_suites, task=task, echo=echo)
    report = judge(store, variant, parent, policy)
    verdict = collect(store, variant, report, alpha)
    return DemoResult(variant, parent, verdict, report,
                      {"tune": "built" if built else "reused", "audit": "ran" if audited else "reused"})


def report(console, result: DemoResult, store: Store, seconds: float | None = None) -> None:
    """The demo's end on the terminal: the scores of the parent and the variant, then the verdict."""
    from rich.markup import escape

    from harness.cli.eval_cmd import print_results
    from harness.prior import results_hook
    from harness.store.runs import results_table
    from harness.verdict import headline, render

    suites = list(dict.fromkeys(c.suite for c in result.verdict.changes))
    print_results(results_hook(results_table(store, variants=[result.parent, result.variant], suites=suites), store))
    console.print(f"[bold]verdict[/] {escape(headline(result.verdict))}", highlight=False)
    for line in render(result.verdict, db_path=str(store.path), width=console.width):
        console.print(escape(line), highlight=False, soft_wrap=True)
    if seconds is not None:
        steps = ", ".join(f"{k} {v}" for k, v in result.steps.items())
        console.print(f"[dim]done in {seconds:.0f}s ({steps})[/]", highlight=False)
