"""Policy mistakes are bad input (exit 2, file:line and field named), never a silent pass or a traceback:
metric typos, NaN/boolean thresholds, duplicate keys, invalid UTF-8, a folder as the policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.gate import load_policy, run_gate
from harness.store import Store
from tests.dashboards import fixture_db
from tests.gate.test_gate import run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(fixture_db.build(tmp_path_factory.mktemp("bad-policy") / "gate.duckdb", audits=False))


def write(tmp_path, text: str | bytes) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def refused(tmp_path, text: str | bytes, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_policy(write(tmp_path, text))
    assert message in str(exc.value)


# -- metric, suite and family names ---------------------------------------------------------------
@pytest.mark.parametrize("rules, message", [
    # the typo used to read as "no run of medmcqa" and pass under not_measured: pass
    ("  - rule: min_score\n    suite: medmcqa\n    metric: acc_nrom\n    min: 0.3\n",
     "gate.yaml:5: rules[0].metric: unknown metric 'acc_nrom' for suite medmcqa (it declares: acc, acc_norm, brier, ece)"),
    ("  - rule: max_drop\n    family: medical_qa\n    metric: acc_nrom\n",
     "gate.yaml:5: rules[0].metric: unknown metric 'acc_nrom' for family medical_qa (its suites declare: acc, acc_norm, brier, ece)"),
    ("  - rule: min_score\n    metric: acc_nrom\n    min: 0.3\n", "unknown metric 'acc_nrom' for any suite"),
    # a suite never run in the DB: its declared metrics come from the suite file (default metric acc)
    ("  - rule: min_score\n    suite: ner_bc5cdr\n    min: 0.3\n",
     "gate.yaml:3: rules[0].metric: unknown metric 'acc' for suite ner_bc5cdr (it declares: f1, precision, recall"),
    ("  - rule: min_score\n    suite: medqa\n    min: 0.3\n", "gate.yaml:4: rules[0].suite: unknown suite 'medqa'"),
    ("  - rule: max_contamination\n    family: cardiology\n", "gate.yaml:4: rules[0].family: unknown family 'cardiology'"),
], ids=["metric-of-suite", "metric-of-family", "metric-of-any-suite", "default-metric-of-unrun-suite", "suite", "family"])
def test_unknown_names_are_refused_even_when_not_measured_passes(store, tmp_path, rules, message):
    policy = load_policy(write(tmp_path, f"not_measured: pass\nrules:\n{rules}"))
    with pytest.raises(ConfigError) as exc:
        run_gate(store, policy, "smollm2-dapt", "smollm2-135m")
    assert message in str(exc.value)


@pytest.mark.parametrize("suite, metric", [("ner_bc5cdr", "f1_Chemical"), ("ner_ncbi_disease", "repairs"),
                                           ("wikitext2", "bits_per_byte"), ("medmcqa", "acc_norm")])
def test_declared_metrics_of_unrun_or_run_suites_are_accepted(store, tmp_path, suite, metric):
    policy = load_policy(write(tmp_path, f"rules:\n  - rule: min_score\n    suite: {suite}\n    metric: {metric}\n"
                                         "    min: 0.1\n"))
    [result] = run_gate(store, policy, "smollm2-dapt").results
    assert result.status in ("not_measured", "pass", "fail")


def test_cli_metric_typo_exits_2(store, tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "not_measured: pass\nrules:\n  - rule: min_score\n    suite: medmcqa\n"
                           "    metric: acc_nrom\n    min: 0.3\n")
    code = run_cli(monkeypatch, "--db", str(store.path), "--candidate", "smollm2-dapt", "--policy", str(path))
    err = capsys.readouterr().err
    assert code == 2 and "unknown metric 'acc_nrom'" in err and "acc, acc_norm" in err and "Traceback" not in err


# -- numbers: finite, and a boolean is not a number -------------------------------------------------
NUMERIC = [  # (policy with {v} in the field, the field, its line)
    ("rules:\n  - rule: min_score\n    min: {v}\n", "rules[0].min", 3),
    ("rules:\n  - rule: max_drop\n    max_drop: {v}\n", "rules[0].max_drop", 3),
    ("rules:\n  - rule: max_drop\n    significance: {v}\n", "rules[0].significance", 3),
    ("rules:\n  - rule: max_forgetting_index\n    max: {v}\n", "rules[0].max", 3),
    ("rules:\n  - rule: max_contamination\n    max_ratio: {v}\n", "rules[0].max_ratio", 3),
    ("rules:\n  - rule: max_canary_exposure\n    max: {v}\n", "rules[0].max", 3),
    ("significance: {v}\nrules:\n  - rule: min_score\n    min: 0.1\n", "significance", 1),
]


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "true", "false", "'0.5'"])
@pytest.mark.parametrize("text, field, line", NUMERIC, ids=[f"{t.split('rule: ')[1].split()[0]}.{f}" for t, f, _ in NUMERIC])
def test_numbers_must_be_finite_and_not_booleans(tmp_path, text, field, line, value):
    refused(tmp_path, text.format(v=value), f"gate.yaml:{line}: {field}: ")


@pytest.mark.parametrize("value", ["true", "1.0", "2"])
def test_version_is_exactly_1(tmp_path, value):
    refused(tmp_path, f"version: {value}\nrules:\n  - rule: min_score\n    min: 0.1\n", "gate.yaml:1: version: ")


def test_integer_thresholds_still_load(tmp_path):
    policy = load_policy(write(tmp_path, "rules:\n  - rule: max_canary_exposure\n    max: 4\n"
                                         "  - rule: max_contamination\n    max_ratio: 0\n"))
    assert policy.rules[0].max == 4.0 and policy.rules[1].max_ratio == 0.0


# -- the file itself ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("rules:\n  - rule: min_score\n    min: 0.1\n    min: 0.9\n", "gate.yaml:4: invalid YAML (duplicate key 'min'"),
    ("not_measured: fail\nrules:\n  - rule: min_score\n    min: 0.1\nnot_measured: pass\n",
     "gate.yaml:5: invalid YAML (duplicate key 'not_measured'"),
    (b"rules:\n  - rule: min_score\n    name: caf\xe9\n    min: 0.1\n", "gate.yaml:3: not valid UTF-8"),
    ("rules:\n  - min_score\n", "gate.yaml:2: rules[0]: a rule must be a mapping"),
    ("rules:\n  - suite: medmcqa\n    min: 0.1\n", "gate.yaml:2: rules[0].rule: unknown rule None"),
    ("rules:\n  - rule: min_score\n    min: 0.1\n    minimum: 0.3\n", "(known keys: name, not_measured, suite, family"),
])
def test_bad_files_are_refused_with_file_and_line(tmp_path, text, message):
    refused(tmp_path, text, message)


def test_policy_path_is_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_policy(tmp_path)
