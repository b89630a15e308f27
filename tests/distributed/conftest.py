"""Data-parallel runs on CPU: 2 processes (gloo) started by torch.distributed.run, the engine of torchrun
and accelerate launch. Children get one thread each (two cores are shared)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_models import TEXT

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp-data")
    (root / "corpus").mkdir()
    (root / "corpus" / "bio.txt").write_text("\n".join(TEXT * 3) + "\n")
    return root


def child_env(**extra) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    env.update(extra)
    return env


def torchrun(args: list[str], nproc: int = 2, timeout: int = 240, **env) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node N -m medtune ARGS`` (the CLI under a launcher)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", "medtune", *args]
    return subprocess.run(cmd, cwd=REPO, env=child_env(**env), capture_output=True, text=True, timeout=timeout)


def medtune(args: list[str], timeout: int = 240, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medtune", *args], cwd=REPO, env=child_env(**env),
                          capture_output=True, text=True, timeout=timeout)
