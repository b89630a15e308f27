"""The gate policy: one validated YAML document (pydantic, unknown fields rejected).

    significance: 0.05        # default alpha of the paired tests
    not_measured: fail        # what a rule counts as when its source table or run is absent: fail | pass
    rules:
      - rule: min_score        # candidate's score on each suite >= min
        family: medical_qa     # or suite: NAME; neither = every suite the candidate was scored on
        metric: acc
        min: 0.30
      - rule: max_drop         # candidate - baseline, same items, paired test (McNemar / paired bootstrap)
        family: general
        max_drop: 0.02         # a larger drop fails when the test finds it significant
      - rule: max_forgetting_index   # from `medtune forgetting`
        max: 0.03
      - rule: max_contamination      # share of a suite's items found in the training data (leakage audit)
        suite: pubmedqa
        max_ratio: 0.0
      - rule: max_canary_exposure    # highest canary exposure, bits (leakage audit)
        max: 4.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ConfigError

NotMeasured = Literal["fail", "pass"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, description="label shown in reports (default: the rule and its scope)")
    not_measured: NotMeasured | None = Field(None, description="override the policy's not_measured for this rule")


class _SuiteRule(_Rule):
    suite: str | None = Field(None, description="one suite")
    family: str | None = Field(None, description="every suite of a family the candidate was scored on")

    @model_validator(mode="after")
    def _one_scope(self):
        if self.suite and self.family:
            raise ValueError("give suite or family, not both")
        return self

    @property
    def scope(self) -> str:
        return self.suite or self.family or "all suites"


class MinScore(_SuiteRule):
    rule: Literal["min_score"]
    metric: str = "acc"
    min: float
    bound: Literal["value", "ci_low"] = Field("value", description="compare the score, or its 95% CI low")


class MaxDrop(_SuiteRule):
    rule: Literal["max_drop"]
    metric: str = "acc"
    max_drop: float = Field(0.0, ge=0, description="largest tolerated drop vs the baseline, in metric units")
    significance: float | None = Field(None, gt=0, lt=1, description="alpha; default: the policy's")
    test: Literal["auto", "mcnemar", "paired_bootstrap"] = Field(
        "auto", description="auto: McNemar for 0/1 per-item scores (accuracy), paired bootstrap otherwise")


class MaxForgettingIndex(_Rule):
    rule: Literal["max_forgetting_index"]
    max: float
    reference: Literal["baseline", "parent", "base"] = Field(
        "baseline", description="which forgetting_summary row: against the gate's baseline, or the parent/base")


class MaxContamination(_SuiteRule):
    rule: Literal["max_contamination"]
    max_ratio: float = Field(0.0, ge=0, le=1, description="largest share of contaminated items per suite")


class MaxCanaryExposure(_Rule):
    rule: Literal["max_canary_exposure"]
    max: float = Field(description="largest tolerated exposure (bits) of any planted canary")


Rule = Annotated[Union[MinScore, MaxDrop, MaxForgettingIndex, MaxContamination, MaxCanaryExposure],
                 Field(discriminator="rule")]
RULES = ["min_score", "max_drop", "max_forgetting_index", "max_contamination", "max_canary_exposure"]


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    significance: float = Field(0.05, gt=0, lt=1)
    not_measured: NotMeasured = "fail"
    rules: list[Rule] = Field(min_length=1)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: policy file not found")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}{f':{mark.line + 1}' if mark else ''}: invalid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a policy must be a mapping with a 'rules' list")
    for i, rule in enumerate(raw.get("rules") or []):
        kind = rule.get("rule") if isinstance(rule, dict) else None
        if kind not in RULES:
            where = _line(root, ("rules", i, "rule")) or _line(root, ("rules", i))
            raise ConfigError(f"{path}{where}: rules[{i}].rule: unknown rule {kind!r} (known: {', '.join(RULES)})")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]  # a typo explains the rest
        loc = tuple(p for p in err["loc"] if p not in RULES)  # drop the union tag pydantic inserts
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        raise ConfigError(f"{path}{_line(root, loc)}: {field or 'policy'}: {err['msg']}") from None


def _line(node, loc: tuple) -> str:
    """':N' for the YAML line of ``loc`` (as far down the path as it exists)."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return f":{node.start_mark.line + 1}" if node is not None else ""
