"""bench/gpu_check.sh --dry-run: the GPU check's script end to end at tiny sizes on CPU (the real check needs
a CUDA device: its figures come from running it there)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.distributed.conftest import REPO, child_env


def test_gpu_check_dry_run_prints_every_figure(tmp_path):
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--dry-run", "--runs", "1"], cwd=REPO,
                          env=child_env(OUT=str(tmp_path)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    mc, gen, tune = report["multiple_choice"], report["generation"], report["tuning"]
    assert report["dry_run"] and mc["native_q_per_s"] > 0 and gen["gen_tokens_per_s"] > 0
    assert mc["agree"] == f"{mc['questions']}/{mc['questions']}" and mc["ratio_native_over_lmeval"] > 0
    assert tune["medtune_tokens_per_s"] > 0 and tune["plain_trainer_tokens_per_s"] > 0
    assert "ratios: native/lm-eval" in proc.stdout


def test_gpu_check_refuses_without_cuda_unless_dry_run():
    import torch

    if torch.cuda.is_available():
        return
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], cwd=REPO, env=child_env(OUT="/tmp"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--dry-run" in proc.stderr
