"""One robustness audit: clean predictions, paired perturbations, and giskard's scan when it is installed.

Reads top to bottom: pick the adapter for the suite type, score the clean items, score each
perturbation's changed items (medtune's perturbations, paired comparison), then, when giskard is
installed and the scan is wanted, hand the same cached scorer to giskard's scan, whose perturbed rows
therefore cost nothing more. Without the scan the audit is complete all the same: ``giskard_issues`` is
None, ``detectors`` empty and ``settings["giskard_scan"]`` says why.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable

from harness.engine import check_compatible
from harness.robustness import _giskard
from harness.robustness._adapters import adapter_for
from harness.robustness._perturbations import PerturbationResult, compare, selected
from harness.robustness._predictor import CachedScorer

DEFAULT_THRESHOLD = 0.05  # giskard's default fail-rate threshold for classification


@dataclass
class RobustnessAudit:
    audit_id: str
    variant: str
    suite: str
    suite_type: str
    metric: str
    clean_value: float
    n: int
    perturbations: list[PerturbationResult]
    giskard_issues: list[dict] | None  # None: giskard's scan did not run
    detectors: list[str]  # giskard detectors that ran; empty without the scan
    settings: dict = field(default_factory=dict)
    report_path: str | None = None
    duration_s: float = 0.0

    @property
    def flagged(self) -> list[str]:
        """Perturbations that change predictions at or above the threshold (our paired numbers)."""
        return [p.perturbation for p in self.perturbations if p.flagged]

    @property
    def giskard_flagged(self) -> list[str]:
        return sorted({i["transformation"] for i in self.giskard_issues or [] if i["transformation"]})


def run_audit(suite, lm, docs: list[dict], variant: str, perturbations: list[str] | None = None,
              threshold: float = DEFAULT_THRESHOLD, report_dir: Path | None = None, seed: int = 0,
              partial_path: Path | None = None, progress: Callable[[int], None] | None = None,
              echo: Callable[[str], None] = lambda m: None, giskard_scan: bool | None = None) -> RobustnessAudit:
    """``giskard_scan``: None runs giskard's scan when giskard is installed, True requires it, False skips it.
    ``seed`` seeds the typos (per item) and the bootstrap CIs."""
    from harness import distributed

    t0 = time.perf_counter()
    main = distributed.is_main()
    if distributed.launched():  # each rank keeps its own resume file and reports nothing; rank 0 echoes
        from harness.eval_parallel import rank_partial

        partial_path = rank_partial(partial_path) if partial_path else None
        progress, echo = (progress, echo) if main else (None, lambda m: None)
    adapter = adapter_for(suite, docs)  # unsupported suite types stop here, before any model work
    scan = _giskard.wanted(giskard_scan)  # so does --giskard-scan without giskard
    check_compatible(suite, lm)
    if hasattr(suite.type, "check_model"):  # NER: the model's label set must be the data's
        suite.type.check_model(lm, None if suite.data_root else docs)
    chosen = selected(perturbations)
    audit_id = distributed.broadcast(uuid.uuid4().hex[:12])
    scorer = CachedScorer(suite, lm, adapter, progress=progress, partial_path=partial_path)
    if scorer.n_resumed:
        echo(f"resuming: {scorer.n_resumed} scored documents from an interrupted audit")

    echo(f"scoring {len(docs)} clean items")
    clean = _score(scorer, list(enumerate(docs)))
    clean_value = adapter.summary(clean)

    results = []
    for p in chosen:
        changed = distributed.on_main(lambda: adapter.perturb(lambda t: p(t, seed)))  # rank 0's texts, on every rank
        echo(f"{p.name}: {len(changed)} items changed")
        idx = sorted(changed)
        perturbed = _score(scorer, [(i, changed[i]) for i in idx])
        results.append(compare(p.name, adapter.metric, adapter, [clean[i] for i in idx], perturbed,
                               threshold=threshold, seed=seed))

    def scan_and_report():  # rank 0 alone (its scorer holds every rank's samples); every rank gets the result
        model, dataset, features = _giskard.build(adapter, scorer, name=f"{variant} on {suite.name}")
        scan, detectors = _giskard.scan(model, dataset, features, adapter, chosen, threshold, seed=seed)
        report_path = None
        if report_dir is not None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{variant}-{suite.name}")
            report_path = str(_giskard.save_html(scan, Path(report_dir) / f"robustness-{safe}-{audit_id}.html"))
        return _giskard.issues_json(scan), detectors, report_path

    if scan:
        echo("giskard scan")
        issues, detectors, report_path = distributed.on_main(scan_and_report)
        scan_note = "ran"
    else:
        issues, detectors, report_path = None, [], None
        scan_note = ("not run: --no-giskard-scan" if giskard_scan is False
                     else f"not run: {_giskard.missing()}")
    if distributed.launched() and partial_path:
        partial_path.unlink(missing_ok=True)  # this rank's resume file: its documents are in the audit

    settings = {"threshold": threshold, "perturbations": [p.name for p in chosen], "seed": seed,
                "giskard_scan": scan_note, "detectors": detectors, "n_docs": len(docs),
                "documents_scored": scorer.n_scored, "documents_resumed": scorer.n_resumed,
                "ner_mode": "non-entity words only" if adapter.suite_type == "ner" else None,
                "model": asdict(lm.info) if is_dataclass(lm.info) else str(lm.info)}
    return RobustnessAudit(audit_id, variant, suite.name, adapter.suite_type, adapter.metric, clean_value, len(docs),
                           results, issues, detectors, settings, report_path,
                           time.perf_counter() - t0)


def _score(scorer: CachedScorer, items: list[tuple[int, dict]]):
    """``scorer.samples(items)``; under a launcher each rank scores its contiguous slice and every rank's
    cache gets all the samples (so giskard's scan, if it runs on rank 0, finds them scored)."""
    from harness import distributed

    if not distributed.launched():
        return scorer.samples(items)
    out = distributed.map_slices(scorer.samples, items)
    scorer.remember(items, out)
    return out
