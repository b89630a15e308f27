"""`medtune eval --judge ...` on the sample suite: a loopback endpoint, and an endpoint that is down."""

import socket

from harness.store import Store
from tests.harness.clihelp import run_cli
from tests.judge.loopback import Loopback

SUITE = "rubric_clinical_sample"


def test_eval_with_endpoint_judge_then_endpoint_down(capsys, tmp_path):
    db = tmp_path / "cli.duckdb"
    base = ["eval", "-v", "var-a", "--backend", "mock", "-s", SUITE, "-n", "4", "-o", "chat_template=false",
            "--db", str(db), "--data-root", str(tmp_path)]
    with Loopback("ok") as srv:
        code, out, err = run_cli(capsys, *base, "--judge", srv.url, "--judge-model", "grader", "--judge-concurrency", "4")
    assert code == 0, err
    assert "rubric_score" in out and "tag_score_theme:emergency_referrals" in out
    settings = Store(db).query("SELECT settings FROM runs")["settings"].iloc[0]
    assert f"rubric judge={srv.url}|grader prompt=rubric-judge-v1" in settings
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run_cli(capsys, *base, "-v", "var-b", "--judge", f"http://127.0.0.1:{port}/v1")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "not reachable" in errors[0] and "Traceback" not in err
    assert len(Store(db).query("SELECT run_id FROM runs")) == 1  # nothing written for the failed run
