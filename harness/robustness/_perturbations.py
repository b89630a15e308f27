"""The perturbations: giskard's own text transformations, applied per item, compared paired.

The same classes the giskard text-perturbation detector uses (same seeds), so the paired numbers
here and giskard's scan agree in kind: giskard reports the fraction of changed predictions; we add
the score on the perturbed items against the same items clean, with a paired CI and test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from harness.errors import MedtuneError

# short name (CLI) -> giskard class in giskard.scanner.robustness.text_transformations
PERTURBATIONS = {
    "uppercase": "TextUppercase",
    "lowercase": "TextLowercase",
    "titlecase": "TextTitleCase",
    "typos": "TextTypoTransformation",
    "punctuation": "TextPunctuationRemovalTransformation",
    "numbers": "TextNumberToWordTransformation",
    "accents": "TextAccentRemovalTransformation",
}


def check_names(names: list[str] | None) -> list[str]:
    names = names or list(PERTURBATIONS)
    unknown = [n for n in names if n not in PERTURBATIONS]
    if unknown:
        raise MedtuneError(f"--perturbation {unknown[0]}: unknown; choose from {', '.join(PERTURBATIONS)}")
    return names


def transformation_classes(names: list[str] | None = None) -> list[type]:
    names = check_names(names)
    from giskard.scanner.robustness import text_transformations as tt

    return [getattr(tt, PERTURBATIONS[n]) for n in names]


def apply(transformation_cls):
    """A function (frame, column) -> perturbed column, through ``giskard.Dataset.transform`` as the detector does."""

    def transform(frame: pd.DataFrame, column: str) -> pd.Series:
        import giskard

        ds = giskard.Dataset(frame[[column]].copy(), column_types={column: "text"}, validation=False)
        return ds.transform(transformation_cls(column=column)).df[column].reset_index(drop=True)

    return transform


@dataclass
class PerturbationResult:
    perturbation: str  # giskard's transformation name
    metric: str
    clean_value: float | None
    perturbed_value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    flip_rate: float | None
    n: int  # items the perturbation changed
    p_value: float | None
    flagged: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare(name: str, metric: str, adapter, clean: list, perturbed: list, threshold: float,
            seed: int = 0) -> PerturbationResult:
    """Perturbed vs clean on the same (changed) items; flagged as giskard does: flip rate >= threshold."""
    if not clean:
        return PerturbationResult(name, metric, None, None, None, None, None, None, 0, None, False)
    cmp = adapter.paired(clean, perturbed, seed=seed)
    flips = float(np.mean([adapter.flipped(a, b) for a, b in zip(clean, perturbed)]))
    return PerturbationResult(name, metric, adapter.summary(clean), adapter.summary(perturbed), cmp.delta, cmp.ci_low,
                              cmp.ci_high, flips, len(clean), cmp.p_value, flips >= threshold)
