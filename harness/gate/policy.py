"""The gate policy: one validated YAML document (pydantic, unknown fields rejected; every threshold a
finite number, never a boolean; read with the shared loader: duplicate keys, bad UTF-8 -> file:line).
Suite, family and metric names are checked by the gate against the suites (``catalog.py``).

    significance: 0.05        # default alpha of the paired tests
    not_measured: fail        # what a rule counts as when its source table or run is absent: fail | pass
    rules:
      - rule: min_score        # candidate's score on each suite >= min
        family: medical_qa     # or suite: NAME; neither = every suite the candidate was scored on
        metric: acc
        min: 0.30
      - rule: max_drop         # candidate - baseline, same items, paired test (McNemar / paired bootstrap)
        family: general
        metric: all            # one metric, or all: every metric the suite declares (acc, acc_norm, ece, brier...)
        max_drop: 0.02         # a larger drop fails when the test finds it significant
      - rule: beats_majority_baseline  # candidate's accuracy > always answering the commonest gold answer
        suite: pubmedqa                #   (exact one-sided McNemar on the same items, p < significance)
      - rule: max_answer_share # no answer chosen on more than max_share of the items...
        suite: pubmedqa
        max_share: 0.8         # ...unless its gold share is that high (allowed: max(max_share, gold share + slack))
      - rule: max_calibration_error    # ece (10 equal-width bins of the top option's probability) or brier
        family: medical_qa
        max: 0.15
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

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from harness.config import YamlDoc, format_loc, load_yaml
from harness.errors import ConfigError

NotMeasured = Literal["fail", "pass"]
#: every threshold: a finite number; ``.nan``/``.inf`` and booleans (``true`` is not 1.0) are refused
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


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
    min: Number
    bound: Literal["value", "ci_low"] = Field("value", description="compare the score, or its 95% CI low")


class MaxDrop(_SuiteRule):
    rule: Literal["max_drop"]
    metric: str = Field("acc", description="a metric, or all: every metric the suite declares and both runs stored")
    max_drop: Number = Field(0.0, ge=0, description="largest tolerated drop vs the baseline, in metric units")
    significance: Number | None = Field(None, gt=0, lt=1, description="alpha; default: the policy's")
    test: Literal["auto", "mcnemar", "paired_bootstrap"] = Field(
        "auto", description="auto: McNemar for 0/1 per-item scores (accuracy), paired bootstrap otherwise")


class MaxForgettingIndex(_Rule):
    rule: Literal["max_forgetting_index"]
    max: Number
    reference: Literal["baseline", "parent", "base"] = Field(
        "baseline", description="which forgetting_summary row: against the gate's baseline, or the parent/base")


class MaxContamination(_SuiteRule):
    rule: Literal["max_contamination"]
    max_ratio: Number = Field(0.0, ge=0, le=1, description="largest share of contaminated items per suite")


class MaxCanaryExposure(_Rule):
    rule: Literal["max_canary_exposure"]
    max: Number = Field(description="largest tolerated exposure (bits) of any planted canary")


class BeatsMajorityBaseline(_SuiteRule):
    rule: Literal["beats_majority_baseline"]
    significance: Number | None = Field(None, gt=0, lt=1, description="alpha; default: the policy's")


class MaxAnswerShare(_SuiteRule):
    rule: Literal["max_answer_share"]
    max_share: Number = Field(0.8, gt=0, le=1, description="largest share of items one answer may be chosen on")
    slack: Number = Field(0.05, ge=0, le=1, description="an answer whose gold share is high may be chosen up to "
                                                         "its gold share plus this")


class MaxCalibrationError(_SuiteRule):
    rule: Literal["max_calibration_error"]
    metric: Literal["ece", "brier"] = Field("ece", description="ece (10 equal-width bins of the top option's "
                                                               "probability) or brier")
    max: Number = Field(ge=0)


_MODELS = (MinScore, MaxDrop, MaxForgettingIndex, MaxContamination, MaxCanaryExposure, BeatsMajorityBaseline,
           MaxAnswerShare, MaxCalibrationError)
Rule = Annotated[Union[_MODELS], Field(discriminator="rule")]
_RULE_MODELS = {m.model_fields["rule"].annotation.__args__[0]: m for m in _MODELS}
RULES = list(_RULE_MODELS)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    significance: Number = Field(0.05, gt=0, lt=1)
    not_measured: NotMeasured = "fail"
    rules: list[Rule] = Field(min_length=1)
    _doc: YamlDoc | None = PrivateAttr(None)  # the file it came from, for errors found later (unknown names)

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, value):
        if value != 1 or type(value) is not int:  # `true` and 1.0 equal 1 but are not a version
            raise ValueError(f"the only policy version is 1, not {value!r}")
        return value

    def error(self, loc: tuple, message: str) -> ConfigError:
        """An error about a field of this policy, at its file:line when it was read from a file."""
        if self._doc is not None:
            return self._doc.error(loc, message)
        return ConfigError(f"policy {format_loc(loc)}: {message}")


#: metrics that are shares of items (0..1): a min_score above 1 can never be met
PROPORTIONS = ("acc", "acc_norm", "exact_match", "f1", "precision", "recall", "extraction_failed")


def is_proportion(metric: str) -> bool:
    """``acc``, ``acc_norm``, ``f1`` and its per-label ``f1_<type>`` (and precision, recall), ...: bounded by 1."""
    return metric in PROPORTIONS or metric.split("_", 1)[0] in ("f1", "precision", "recall")


def impossible_min(rule) -> str | None:
    """Why a min_score rule can never pass (a share asked to exceed 1), else None."""
    if isinstance(rule, MinScore) and rule.min > 1 and is_proportion(rule.metric):
        return f"is {rule.min:g}, but {rule.metric} is a share between 0 and 1: the rule could never pass (write 0.6 for 60%)"
    return None


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy; errors name the file, line and field (shared YAML loader: duplicate
    keys, invalid UTF-8, a folder or a missing file are refused with ``file:line``)."""
    try:
        doc = load_yaml(path, "policy file")
    except ConfigError as exc:
        if "must be a YAML mapping" not in str(exc):
            raise
        raise ConfigError(f"{path}: a policy must be a mapping with a 'rules' list") from None
    rules = doc.data.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            raise doc.error(("rules", i), f"a rule must be a mapping such as `- rule: min_score` "
                                          f"(known rules: {', '.join(RULES)})")
        kind = rule.get("rule")
        if not isinstance(kind, str) or kind not in RULES:
            raise doc.error(("rules", i, "rule"), f"unknown rule {kind!r} (known: {', '.join(RULES)})")
    try:
        policy = Policy.model_validate(doc.data)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]  # a typo explains the rest
        loc = err["loc"]
        if loc[:1] == ("rules",) and len(loc) > 2 and loc[2] in RULES:  # drop the union tag pydantic inserts
            loc = loc[:2] + loc[3:]
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            model = _RULE_MODELS[doc.data["rules"][loc[1]]["rule"]] if loc[0] == "rules" and len(loc) == 3 else Policy
            message += f" (known keys: {', '.join(model.model_fields)})"
        raise doc.error(loc, message) from None
    policy._doc = doc
    for i, rule in enumerate(policy.rules):
        never = impossible_min(rule)
        if never:
            raise policy.error(("rules", i, "min"), never)
    return policy
