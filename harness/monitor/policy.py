"""The monitoring policy: one validated YAML document, like the gate's (pydantic, unknown keys refused,
thresholds finite numbers; errors name ``file:line`` and the field).

    version: 1
    significance: 0.01        # adjusted p-value below which a difference is significant
    correction: holm          # holm (family-wise) | bh (false discovery rate), over every test of the check
    not_measured: pass        # what a rule counts as where it has nothing to judge (no feedback, small window)
    min_records: 100          # windows with fewer records are profiled, not judged
    rules:
      - rule: max_drift       # per feature: adjusted p < significance and effect >= threshold fails
        features: all         # or a list: prompt_chars, response_chars, language, first_token,
                              #   prompt_embedding, response_embedding
        max_psi: 0.2          # Population Stability Index (numbers and categories)
        max_mmd: 0.1          # maximum mean discrepancy (embeddings)
      - rule: max_refusal_rate
        max_increase: 0.05    # over the reference's rate, significant (one-sided two-proportion test)
        max: 0.2              # optional: an absolute ceiling
      - rule: max_pii
        max_rate: 0.0         # share of responses where the PII detector found something
      - rule: max_answer_share  # answer collapse
        max_share: 0.2        # share of the commonest normalised response
        max_first_token_share: 0.6   # optional: of the commonest first word
      - rule: max_quality_drop
        max_drop: 0.05        # graded score vs the pre-deployment score (or the reference window's): fails when
                              # the drop is larger and significant (the 95% CI of the change, which counts a
                              # reference sample's own noise, lies below 0)
        baseline: medqa_usmle:acc    # optional: SUITE[:METRIC] of the variant's stored runs; default: the reference
        min: 0.6              # optional: an absolute floor for the CI's upper bound
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.config import load_yaml
from harness.errors import ConfigError
from harness.monitor.analysis import FEATURES

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
NotMeasured = Literal["fail", "pass"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, description="label shown in reports (default: the rule)")
    not_measured: NotMeasured | None = Field(None, description="override the policy's not_measured for this rule")


class MaxDrift(_Rule):
    rule: Literal["max_drift"]
    features: Literal["all"] | list[str] = Field("all", description="features judged")
    max_psi: Number = Field(0.2, gt=0, description="PSI at or above which a significant shift is drift")
    max_mmd: Number = Field(0.1, gt=0, description="MMD at or above which a significant shift is drift")

    @field_validator("features")
    @classmethod
    def _known(cls, value):
        if isinstance(value, list):
            unknown = [f for f in value if f not in FEATURES]
            if unknown or not value:
                raise ValueError(f"unknown feature {unknown[0]!r} (features: {', '.join(FEATURES)})" if unknown
                                 else "give at least one feature, or all")
        return value


class MaxRefusalRate(_Rule):
    rule: Literal["max_refusal_rate"]
    max_increase: Number | None = Field(0.05, ge=0, le=1, description="largest rise over the reference's rate")
    max: Number | None = Field(None, ge=0, le=1, description="an absolute ceiling")


class MaxPii(_Rule):
    rule: Literal["max_pii"]
    max_rate: Number = Field(0.0, ge=0, le=1, description="largest share of responses with PII found")


class MaxAnswerShare(_Rule):
    rule: Literal["max_answer_share"]
    max_share: Number = Field(0.2, gt=0, le=1, description="largest share of the commonest normalised response")
    max_first_token_share: Number | None = Field(None, gt=0, le=1,
                                                 description="largest share of the commonest first word")


class MaxQualityDrop(_Rule):
    rule: Literal["max_quality_drop"]
    max_drop: Number = Field(0.05, ge=0, description="largest tolerated drop vs the baseline")
    baseline: str | None = Field(None, description="SUITE[:METRIC] of the variant's stored runs (pre-deployment); "
                                                   "default: the reference")
    min: Number | None = Field(None, description="an absolute floor")


_MODELS = (MaxDrift, MaxRefusalRate, MaxPii, MaxAnswerShare, MaxQualityDrop)
Rule = Annotated[Union[_MODELS], Field(discriminator="rule")]
_RULE_MODELS = {m.model_fields["rule"].annotation.__args__[0]: m for m in _MODELS}
RULES = list(_RULE_MODELS)


class MonitorPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    significance: Number = Field(0.01, gt=0, lt=1)
    correction: Literal["holm", "bh"] = "holm"
    not_measured: NotMeasured = "pass"
    min_records: int = Field(100, ge=1, strict=True)
    rules: list[Rule] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, value):
        if value != 1 or type(value) is not int:
            raise ValueError(f"the only policy version is 1, not {value!r}")
        return value

    def rules_of(self, kind: str) -> list:
        return [r for r in self.rules if r.rule == kind]


def load_policy(path: str | Path) -> MonitorPolicy:
    """Read and validate a monitoring policy; errors name the file, line and field."""
    try:
        doc = load_yaml(path, "policy file")
    except ConfigError as exc:
        if "must be a YAML mapping" not in str(exc):
            raise
        raise ConfigError(f"{path}: a monitoring policy must be a mapping with a 'rules' list") from None
    rules = doc.data.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            raise doc.error(("rules", i), f"a rule must be a mapping such as `- rule: max_drift` "
                                          f"(known rules: {', '.join(RULES)})")
        kind = rule.get("rule")
        if not isinstance(kind, str) or kind not in RULES:
            raise doc.error(("rules", i, "rule"), f"unknown rule {kind!r} (known: {', '.join(RULES)})")
    try:
        return MonitorPolicy.model_validate(doc.data)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        loc = err["loc"]
        if loc[:1] == ("rules",) and len(loc) > 2 and loc[2] in RULES:  # drop the union tag pydantic inserts
            loc = loc[:2] + loc[3:]
        if loc[:1] == ("rules",) and len(loc) > 3 and loc[2] == "features":
            loc = loc[:3]  # features: [ ... ] -> the list's line, with its own message
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = _RULE_MODELS[doc.data["rules"][loc[1]]["rule"]] if loc[0] == "rules" and len(loc) == 3 \
                else MonitorPolicy
            message += f" (known keys: {', '.join(model.model_fields)})"
        raise doc.error(loc, message) from None
