"""`medtune judge check`: agreement with human labels (macro F1, kappa, CIs), stored; two judges compared."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.errors import MedtuneError
from harness.judge import make_judge
from harness.judge.agreement import accuracy, check_judge, kappa, macro_f1, read_labels
from harness.store import Store
from tests.judge.loopback import Loopback, expected_met

LABELS = "suites/rubric/clinical_sample_labels.jsonl"


def test_statistics_match_sklearn_and_vectorise():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 2, 50).astype(float), rng.integers(0, 2, 50).astype(float)
    try:
        from sklearn.metrics import cohen_kappa_score, f1_score
    except ImportError:
        pytest.skip("sklearn not installed")
    assert macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro"))
    assert kappa(t, p) == pytest.approx(cohen_kappa_score(t, p))
    both = macro_f1(np.stack([t, t]), np.stack([p, t]))  # resamples on a leading axis
    assert both[1] == 1.0 and kappa(t, t) == 1.0 and accuracy(t, 1 - t) == 0.0


def test_labels_file_and_healthbench_meta_layout(tmp_path):
    labelled = read_labels(LABELS)
    assert len(labelled) == 28 and isinstance(labelled[0][1], bool)
    meta = tmp_path / "meta.jsonl"
    meta.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": [{"role": "user", "content": "q"}], "completion": "a", "rubric": "crit one", "binary_labels": [True, True, False]},
        {"prompt": [{"role": "user", "content": "q"}], "completion": "a", "rubric": "crit two", "binary_labels": [True, False]},
    ]) + "\n")
    got = read_labels(meta)
    assert len(got) == 1 and got[0][1] is True  # majority vote; the tie is left out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "completion": "a", "criterion": "c"}\n')
    with pytest.raises(MedtuneError, match="bad.jsonl:1: needs the human label"):
        read_labels(bad)


def test_a_perfect_judge_agrees_and_is_stored(tmp_path):
    labelled = [(item, expected_met(item.criterion)) for item, _ in read_labels(LABELS)]
    store = Store(tmp_path / "a.duckdb")
    with Loopback("ok") as srv:
        r = check_judge(make_judge(srv.url, "m"), labelled, store=store, labels_path=LABELS)
    assert r["macro_f1"] == 1.0 and r["kappa"] == 1.0 and r["n"] == 28 and r["n_failed"] == 0
    row = store.query("SELECT * FROM judge_agreement").iloc[0]
    assert row["judge_id"] == f"{srv.url}|m" and row["macro_f1"] == 1.0 and row["prompt_version"] == "rubric-judge-v1"


def test_cli_compares_two_judges(tmp_path):
    from harness.cli import app

    db = tmp_path / "c.duckdb"
    res = CliRunner().invoke(app, ["judge", "check", "--judge", "mock", "--judge", "mock:b", "--labels", LABELS,
                                   "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [j["judge_id"] for j in out["judges"]] == ["mock", "mock:b"] and out["between_judges"]["n"] == 28
    j = out["judges"][0]
    assert j["macro_f1_low"] <= j["macro_f1"] <= j["macro_f1_high"] and -1 <= j["kappa"] <= 1
    assert len(Store(db).query("SELECT * FROM judge_agreement")) == 2
