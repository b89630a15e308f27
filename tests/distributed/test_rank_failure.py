"""Data-parallel eval when something goes wrong (issues #27 and #29), 2 processes on CPU (gloo), mock backend:

- a failure on one rank stops EVERY rank with the same one-line error (the others used to wait in
  ``gather_object`` until the launcher killed them), exit 2 for a MedtuneError;
- Ctrl-C under ``--processes 2`` exits 130 with the one "interrupted" line (it was 1, and the line per process);
- killing the launcher (kill -9) takes its workers with it (they used to run on as orphans).

Faults are injected into the workers through a ``sitecustomize.py`` on their PYTHONPATH (ranks only: the
launcher itself is untouched)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.cli import INTERRUPTED
from tests.distributed.conftest import REPO, child_env
from tests.harness.test_bad_data import MEDQA, jsonl, put

FAIL_ON_RANK_1 = '''
import os
if os.environ.get("RANK") == "1":
    import atexit, time
    import harness.eval_parallel as ep
    from harness.errors import MedtuneError

    def fail(*args, **kwargs):
        raise MedtuneError("simulated failure on rank 1")

    ep.score_docs = fail
    atexit.register(time.sleep, 3)  # rank 1 exits late: rank 0 must stop on its own, not be killed
'''

BLOCK = '''
import os
if os.environ.get("RANK"):
    import time
    from pathlib import Path
    import harness.eval_parallel as ep

    def block(*args, **kwargs):
        Path(os.environ["MEDTUNE_TEST_PIDS"], f"rank{os.environ['RANK']}.pid").write_text(str(os.getpid()))
        time.sleep(600)

    ep.score_docs = block
'''


def _setup(tmp_path: Path, inject: str) -> tuple[list[str], dict]:
    put(tmp_path / "data", "medqa_usmle/test.jsonl", jsonl(*[MEDQA] * 8))
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(inject)
    (tmp_path / "pids").mkdir()
    args = ["eval", "-v", "m", "--backend", "mock", "-s", "medqa_usmle", "--data-root", str(tmp_path / "data"),
            "--db", str(tmp_path / "r.duckdb")]
    env = child_env(PYTHONPATH=f"{tmp_path / 'inject'}{os.pathsep}{REPO}", MEDTUNE_CACHE=str(tmp_path / "cache"),
                    MEDTUNE_TEST_PIDS=str(tmp_path / "pids"))
    return args, env


def test_a_failure_on_one_rank_stops_every_rank_with_the_same_line(tmp_path):
    args, env = _setup(tmp_path, FAIL_ON_RANK_1)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "medtune", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    # under a plain torchrun each rank prints its own line: rank 0 raised the error itself, promptly
    assert errors == ["error: simulated failure on rank 1"] * 2, proc.stderr[-3000:]
    assert "exitcode  : 2" in proc.stderr and "SIGTERM" not in proc.stderr.split("Root Cause")[-1], proc.stderr[-3000:]
    assert not (tmp_path / "r.duckdb").exists()

    proc = subprocess.run([sys.executable, "-m", "medtune", *args, "--processes", "2"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert [line for line in proc.stderr.splitlines() if line.strip().startswith(("error", "Traceback", "W", "E"))] == [
        "error: simulated failure on rank 1"], proc.stderr[-3000:]  # one line: no copy per rank, no launcher report
    assert not (tmp_path / "r.duckdb").exists()


def _launch_and_wait_for_workers(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    args, env = _setup(tmp_path, BLOCK)
    proc = subprocess.Popen([sys.executable, "-m", "medtune", *args, "--processes", "2"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while len(list((tmp_path / "pids").glob("rank*.pid"))) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers never started scoring"
        time.sleep(0.1)
    return proc, [int(p.read_text()) for p in sorted((tmp_path / "pids").glob("rank*.pid"))]


def _running(pid: int) -> bool:
    """Alive and not a zombie (a dead child of a dead launcher waits for init to reap it)."""
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "Z" not in state.split(":", 1)[1]


def _stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_ctrl_c_under_processes_is_130_and_one_line(tmp_path):
    proc, workers = _launch_and_wait_for_workers(tmp_path)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop(workers)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in out + err
    assert err.count(INTERRUPTED) == 1 and err.strip().splitlines()[-1] == INTERRUPTED, err[-3000:]
    assert "death signal" not in err  # torch's agent log stays out of the terminal


def test_workers_die_with_their_launcher(tmp_path):
    proc, workers = _launch_and_wait_for_workers(tmp_path)
    try:
        proc.kill()  # kill -9: no chance to stop its workers itself
        proc.communicate(timeout=60)
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in workers), "workers outlived their launcher"
    finally:
        _stop(workers)
