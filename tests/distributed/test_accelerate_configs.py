"""The shipped accelerate configs (tuning/accelerate/) parse as accelerate's own config files, and
the SLURM example is valid bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "tuning" / "accelerate"
EXPECTED = {"ddp.yaml": ("MULTI_GPU", 1), "fsdp2.yaml": ("FSDP", 1), "deepspeed_zero2.yaml": ("DEEPSPEED", 1),
            "deepspeed_zero3.yaml": ("DEEPSPEED", 1), "multinode_fsdp2.yaml": ("FSDP", 4)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_parses_with_accelerate(name):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(FOLDER / name)
    kind, machines = EXPECTED[name]
    assert str(cfg.distributed_type).rsplit(".", 1)[-1] == kind and cfg.num_machines == machines
    if kind == "FSDP":
        assert cfg.fsdp_config["fsdp_version"] == 2 and cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    if name == "deepspeed_zero3.yaml":
        assert cfg.deepspeed_config["zero3_save_16bit_model"] is True  # Trainer.save_model writes whole weights


def test_every_config_is_tested_and_slurm_script_is_bash():
    assert {p.name for p in FOLDER.glob("*.yaml")} == set(EXPECTED)
    assert subprocess.run(["bash", "-n", str(FOLDER / "slurm.sh")]).returncode == 0
    assert "accelerate launch" in (FOLDER / "slurm.sh").read_text()
