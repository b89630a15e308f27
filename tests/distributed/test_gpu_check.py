"""bench/gpu_check.sh --dry-run: the GPU check's script end to end at tiny sizes on CPU (the real check needs
a CUDA device: its figures come from running it there), including its offline install step: a wheel folder
(bench/gpu_wheels.sh's layout) whose package is missing here is installed into a throw-away --target folder
and imported by the check's import verification."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.distributed.conftest import REPO, child_env

CHECKS = ["multiple_choice", "generation", "eval_4bit", "eval_8bit", "tune_lora", "tune_qlora", "tune_full", "bf16"]


def fake_wheels(folder: Path) -> Path:
    """A manifest like bench/gpu_wheels.sh's, for this Python, naming one tiny pure-Python wheel not installed here."""
    folder.mkdir()
    name, info = "medtune_gpu_probe", "medtune_gpu_probe-0.1.dist-info"
    wheel = folder / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(f"{name}/__init__.py", '__version__ = "0.1"\n')
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", f"{name}/__init__.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
    (folder / "manifest.txt").write_text(f"# python {sys.version_info[0]}.{sys.version_info[1]}\n{name} {wheel.name} 0.1\n")
    return folder


def test_gpu_check_dry_run_prints_every_figure(tmp_path):
    wheels = fake_wheels(tmp_path / "wheels")
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--dry-run", "--runs", "1"], cwd=REPO,
                          env=child_env(OUT=str(tmp_path), GPU_WHEELS=str(wheels), GPU_SITE=str(tmp_path / "site")),
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the install step: the missing wheel went into GPU_SITE (never the environment) and imports from there
    assert "wheels: installing offline" in proc.stdout and (tmp_path / "site" / "medtune_gpu_probe").is_dir()
    assert "medtune_gpu_probe 0.1" in proc.stdout and "MISSING" not in proc.stdout, proc.stdout[:3000]

    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert list(report["checks"]) == CHECKS
    # everything runs on CPU (bitsandbytes has CPU kernels for nf4 and int8); bf16 is the CUDA-only part
    assert report["checks"] == {**{c: "PASS" for c in CHECKS}, "bf16": "SKIP"}, \
        {c: report[c]["reason"] for c in CHECKS}
    assert report["ok"] is True
    mc, gen, tune = report["multiple_choice"], report["generation"], report["tune_full"]
    assert report["dry_run"] and mc["native_q_per_s"] > 0 and gen["gen_tokens_per_s"] > 0
    assert mc["agree"] == f"{mc['questions']}/{mc['questions']}" and mc["ratio_native_over_lmeval"] > 0
    assert tune["medtune_tokens_per_s"] > 0 and tune["plain_trainer_tokens_per_s"] > 0
    for method in ("lora", "qlora"):
        t = report[f"tune_{method}"]
        assert t["method"] == method and t["tokens_per_s"] > 0 and t["adapter_saved"]
        assert 0 < t["trainable_params"] < t["total_params"]
        assert t["dtypes"]["trainer_bf16"] is False  # float32 on CPU
    assert report["tune_qlora"]["quantised_layers"] > 0 and report["tune_qlora"]["dtypes"]["compute_4bit"] == ["float32"]
    for bits in ("4bit", "8bit"):
        q = report[f"eval_{bits}"]
        assert q["bits"] == bits and q["quantised_layers"] > 0 and q["finite"] and q["q_per_s"] > 0
        assert 0 < q["memory_vs_unquantised"] < 1
    assert report["bf16"]["expected"] == "float32" and set(report["bf16"]["used"]) == {
        "eval (hf-causal)", "eval_4bit", "eval_8bit", "tune_full", "tune_lora", "tune_qlora"}
    for line in ("ratios: native/lm-eval", "summary: 8 checks, PASS 7, FAIL 0, SKIP 1", "-> tune_qlora: PASS",
                 "4bit eval (hf-causal, bitsandbytes):", "8bit eval (hf-causal, bitsandbytes):", "lora tuning",
                 "qlora tuning", "bf16 (the dtype actually used):"):
        assert line in proc.stdout, line


def test_gpu_check_refuses_without_cuda_unless_dry_run(tmp_path):
    import torch

    if torch.cuda.is_available():
        return
    wheels = fake_wheels(tmp_path / "wheels")  # not installed: no CUDA device, so no install anywhere
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], cwd=REPO,
                          env=child_env(OUT=str(tmp_path), GPU_WHEELS=str(wheels)), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "--dry-run" in proc.stderr
    assert "no CUDA device here: nothing installed" in proc.stdout
