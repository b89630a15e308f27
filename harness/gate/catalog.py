"""What the gate knows about suites before judging: family, type and metrics of each suite.

A suite is known from its shipped definition (``suites/**.yaml``: ``family``, ``type``,
``metrics:``) and from the DB (a suite the DB has seen, with the metrics its runs stored), so a
rule on a suite that has no run yet is still checked against the metrics the suite declares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from harness.errors import MedtuneError
from harness.gate.sources import Sources
from suites._types.declarations import declared


@dataclass
class SuiteInfo:
    family: str | None = None
    type: str | None = None
    metrics: set[str] = field(default_factory=set)   # declared by the suite definition, or stored by its runs

    def knows(self, metric: str) -> bool:
        """A metric the suite lists or stored, a per-label one of a listed metric (NER ``f1_<type>``),
        or one its type reports always (NER ``repairs``): as the type's metric declaration says."""
        if metric in self.metrics:
            return True
        for d in declared(self.type):
            if d.always and d.name == metric:
                return True
            if d.per_label and d.name in self.metrics and d.get_label(metric):
                return True
        return False

    def names(self) -> list[str]:
        """The metric names, as shown in an error."""
        decl = declared(self.type)
        out = sorted(self.metrics)
        out += [f"{d.name}_<type>" for d in sorted(decl, key=lambda d: d.name) if d.per_label and d.name in self.metrics]
        return out + [d.name for d in decl if d.always and d.name not in self.metrics]


def _shipped() -> dict[str, SuiteInfo]:
    from suites import list_suites, load_suite

    out = {}
    for name in list_suites():
        try:
            spec = load_suite(name).spec
        except MedtuneError:  # a broken suite file is that suite's problem, not the gate's
            continue
        out[name] = SuiteInfo(spec.family, spec.type, set(spec.metrics))
    return out


def suite_catalog(sources: Sources) -> dict[str, SuiteInfo]:
    """suite -> what is known of it, shipped definitions first, the DB's rows on top (its family wins)."""
    out = _shipped()
    for name, family, kind, spec in sources.suite_rows():
        info = out.setdefault(name, SuiteInfo())
        info.family, info.type = family or info.family, kind or info.type
        try:
            declared = json.loads(spec).get("metrics") if isinstance(spec, str) else None
        except (ValueError, AttributeError):
            declared = None
        if isinstance(declared, list):
            info.metrics |= {m for m in declared if isinstance(m, str)}
    for name, metric in sources.stored_metrics():
        out.setdefault(name, SuiteInfo()).metrics.add(metric)
    return out


def unknown_metric(metric: str, scope: str, suites: list[SuiteInfo]) -> str | None:
    """Why ``metric`` is not a metric of the suites in scope, or None when it is (or nothing is known)."""
    known = [s for s in suites if s.metrics]
    if not known or any(s.knows(metric) for s in known):
        return None
    names = sorted({n for s in known for n in s.names()}, key=lambda n: (n.endswith(">"), n == "repairs", n))
    who = {"suite": "it declares", "family": "its suites declare"}.get(scope.split()[0], "the suites declare")
    return f"unknown metric {metric!r} for {scope} ({who}: {', '.join(names)})"
