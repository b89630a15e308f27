import json
import os
import subprocess
import sys

import pytest

from harness.store import Store
from tests.harness.clihelp import run_cli


def _n_runs(db):
    return 0 if not db.exists() else len(Store(db).query("SELECT * FROM runs"))


def test_eval_then_results_in_every_format(capsys, tiny_causal, data_root, db):
    code, out, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--suite",
                             "pubmedqa", "--limit", "5", "--db", str(db), "--data-root", str(data_root))
    assert code == 0, err
    assert "medqa_usmle" in out and "acc_norm" in out
    samples = Store(db).query("SELECT * FROM samples")
    assert len(samples) == 10 and set(json.loads(samples.record[0])) >= {"prompt", "options", "loglikelihoods"}
    code, out, _ = run_cli(capsys, "results", "--format", "json", "--db", str(db))
    rows = json.loads(out)
    assert {(r["suite"], r["metric"]) for r in rows} >= {("medqa_usmle", "acc"), ("pubmedqa", "acc_norm")}
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in rows)
    code, out, _ = run_cli(capsys, "results", "--format", "csv", "--db", str(db))
    assert out.splitlines()[0].startswith("variant,suite,engine,n_samples,metric,value,ci_low,ci_high")


def test_same_run_is_a_cache_hit_unless_forced(capsys, tiny_causal, data_root, db):
    args = ["eval", "--variant", str(tiny_causal), "--suite", "pubmedqa_noabstract", "--limit", "3", "--db", str(db),
            "--data-root", str(data_root)]
    assert run_cli(capsys, *args)[0] == 0
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "cached" in out and _n_runs(db) == 1
    assert run_cli(capsys, *args, "--limit", "4")[0] == 0 and _n_runs(db) == 2  # other settings: new run
    assert run_cli(capsys, *args, "--force")[0] == 0 and _n_runs(db) == 3


@pytest.mark.parametrize("args,message", [
    (["--suite", "nope"], "unknown suite 'nope'"),
    (["--variant", "no-such-model"], "unknown model 'no-such-model'"),
    (["--data-root", "/does/not/exist"], "data root /does/not/exist does not exist"),
    (["--option", "multi=true", "--suite", "pubmedqa"], "no selected suite has that option"),
    (["--engine", "vllm"], "--engine vllm"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(capsys, tiny_causal, data_root, db, args, message):
    base = {"--variant": str(tiny_causal), "--suite": "medqa_usmle", "--data-root": str(data_root)}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = ["eval", "--limit", "2", "--db", str(db)] + [x for kv in base.items() for x in kv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
    assert _n_runs(db) == 0


def test_malformed_data_line_is_named_and_nothing_written(capsys, tiny_causal, tmp_path, db):
    (tmp_path / "medqa_usmle").mkdir()
    (tmp_path / "medqa_usmle/test.jsonl").write_text(
        '{"question": "q", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "A"}\n{oops\n')
    code, _, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--db", str(db),
                           "--data-root", str(tmp_path))
    assert code == 2 and "test.jsonl:2: malformed JSON" in err and not db.exists()


def test_suites_and_models_listings(capsys, db):
    code, out, _ = run_cli(capsys, "suites", "--format", "json")
    names = {s["suite"] for s in json.loads(out)}
    assert {"medqa_usmle", "medmcqa", "pubmedqa", "mmlu_medical"} <= names
    code, out, _ = run_cli(capsys, "models", "--db", str(db))
    assert "smollm2-135m" in out and "minilm-l6" in out


def test_two_eval_processes_and_a_reader_at_once(tiny_causal, data_root, tmp_path):
    """DuckDB locks its file strictly; the store's short, file-locked connections let all three succeed."""
    db = tmp_path / "shared.duckdb"
    env = dict(os.environ, MEDTUNE_DATA=str(data_root), MEDTUNE_DB=str(db))
    cmd = [sys.executable, "-c", "from harness.cli import main; main()"]
    Store(db).init()
    reader = subprocess.Popen([sys.executable, "-c", (
        "import time; from harness.store import Store\n"
        f"s = Store({str(db)!r}); t = time.time()\n"
        "while time.time() - t < 20:\n"
        "    s.query('SELECT count(*) FROM samples'); time.sleep(0.05)\n")], env=env)
    writers = [subprocess.Popen(cmd + ["eval", "--variant", str(tiny_causal), "--suite", suite, "--limit", "4"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for suite in ("medqa_usmle", "pubmedqa_noabstract")]
    for w in writers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err.decode()[-2000:]
    reader.wait(timeout=60)
    assert reader.returncode == 0
    counts = Store(db).query("SELECT suite, count(*) AS n FROM runs JOIN samples USING (run_id) GROUP BY suite")
    assert dict(zip(counts.suite, counts.n)) == {"medqa_usmle": 4, "pubmedqa_noabstract": 4}


def _flock_waiters(path) -> int:
    """Processes blocked on a flock of ``path`` (Linux /proc/locks lines marked '->')."""
    ino = os.stat(path).st_ino
    with open("/proc/locks") as f:
        return sum(1 for line in f if "->" in line and line.split()[-3].endswith(f":{ino}"))


def test_two_identical_evals_at_once_write_one_run(tiny_causal, tmp_path):
    """Both plan before either writes (the DB lock is held until both wait on it); one computes, one reuses."""
    import fcntl
    import time

    db = tmp_path / "shared.duckdb"
    root = tmp_path / "data"
    (root / "medqa_usmle").mkdir(parents=True)
    item = {"question": "Which drug?", "options": {"A": "aspirin", "B": "heparin"}, "answer_idx": "A"}
    (root / "medqa_usmle/test.jsonl").write_text((json.dumps(item) + "\n") * 2)
    store = Store(db)
    store.init()
    env = dict(os.environ, MEDTUNE_DATA=str(root), MEDTUNE_DB=str(db))
    cmd = [sys.executable, "-c", "from harness.cli import main; main()", "eval", "--variant", str(tiny_causal),
           "--suite", "medqa_usmle"]
    with open(store.lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        deadline = time.time() + 120
        while _flock_waiters(store.lock_path) < 2 and time.time() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.1)
        fcntl.flock(lock, fcntl.LOCK_UN)
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(out)
    assert _n_runs(db) == 1
    assert sum("cached (written by a concurrent run)" in o for o in outs) == 1, outs
