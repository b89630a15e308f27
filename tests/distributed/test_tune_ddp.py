"""``medtune tune`` under a launcher (DDP, 2 CPU processes, gloo) on the tiny Llama: one variant
registered by rank 0, weights that load, and the loss curve of a one-process run with the same global
batch (2 ranks x batch 2 == 1 process x batch 4)."""

from __future__ import annotations

import pytest

from harness.store import Store
from harness.store.variants import get_variant, list_variants
from tests.distributed.conftest import torchrun

# DDP averages the gradients of the two half-batches; the one-process run averages the whole batch:
# the same sum in another order, so losses agree to float32 rounding. Stated tolerance: 1e-4 relative.
LOSS_RTOL = 1e-4

SETS = {"data.files": "[corpus/bio.txt]", "data.limit": "60", "data.eval_size": "4", "train.max_steps": "4",
        "train.eval_every": "2", "train.log_every": "1", "train.seq_length": "32", "train.patience": "null",
        "train.grad_accum": "1", "train.device": "cpu"}


def sets(**more) -> list[str]:
    return [a for k, v in {**SETS, **more}.items() for a in ("--set", f"{k}={v}")]


def test_ddp_tune_registers_once_and_matches_one_process_loss_curve(tmp_path, tiny_causal, corpus_root):
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    # the reference: one process, batch 4
    overrides = {k: v for k, v in SETS.items()}
    overrides.update({"base": str(tiny_causal), "name": "single", "output_dir": str(tmp_path / "single"),
                      "train.batch": 4, "data.files": ["corpus/bio.txt"], "train.patience": None})
    spec = load_recipe("demo_dapt_smollm2", {k: (int(v) if isinstance(v, str) and v.isdigit() else v)
                                            for k, v in overrides.items()})
    ref_db = Store(tmp_path / "ref.duckdb")
    single = tune(spec, TuneContext(store=ref_db, data_root=corpus_root, output=spec.output_path(),
                                    show_progress=False, echo=lambda m: None))

    # DDP: 2 ranks, batch 2 each
    db = tmp_path / "ddp.duckdb"
    out = tmp_path / "ddp"
    proc = torchrun(["tune", "demo_dapt_smollm2", *sets(**{"base": str(tiny_causal), "name": "ddp", "train.batch": "2",
                                                           "output_dir": str(out)}),
                     "--db", str(db), "--data-root", str(corpus_root)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("registered ddp") == 1  # rank 0 alone reports (and registers)

    store = Store(db)
    tuned = [r for r in list_variants(store) if r["method"] != "base"]
    assert [r["name"] for r in tuned] == ["ddp"]
    lin = get_variant(store, "ddp")["lineage"]
    assert (lin["world_size"], lin["strategy"], lin["global_batch"]) == (2, "ddp", 4)
    assert single.lineage["world_size"] == 1 and single.lineage["strategy"] == "single"
    assert single.lineage["global_batch"] == 4
    assert not (out / "checkpoints").exists()

    curve = store.query("SELECT step, train_loss, eval_loss FROM training_curves WHERE variant = 'ddp' ORDER BY step")
    ddp_train = [x for x in curve.train_loss if x == x]
    one_train = [r["train_loss"] for r in single.curves if r["train_loss"] is not None]
    assert len(ddp_train) == len(one_train) == 4
    assert ddp_train == pytest.approx(one_train, rel=LOSS_RTOL)
    # eval_loss is the Trainer's mean of per-batch means, and accelerate pads a rank's uneven last eval
    # shard with repeats: it depends on the per-device batch (2 vs 4), so it is only logged at the same
    # steps here; the trained weights below are what must agree.
    assert curve.eval_loss.notna().sum() == sum(r["eval_loss"] is not None for r in single.curves) == 2

    import torch
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(out)  # the saved variant loads as a plain HF directory
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "single")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-5), name


@pytest.mark.gpu
def test_fsdp2_tune_on_two_gpus(tmp_path, tiny_causal, corpus_root):
    """FSDP2 shards only on CUDA (accelerate runs FSDP on CPU as plain DDP): 2 GPUs, FULL_STATE_DICT save."""
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA devices")
    db, out = tmp_path / "fsdp.duckdb", tmp_path / "fsdp"
    proc = torchrun(["tune", "demo_dapt_smollm2", *sets(**{"base": str(tiny_causal), "name": "fsdp", "train.batch": "2",
                                                           "train.device": "cuda", "output_dir": str(out)}),
                     "--db", str(db), "--data-root", str(corpus_root)],
                    ACCELERATE_USE_FSDP="true", FSDP_VERSION="2", FSDP_AUTO_WRAP_POLICY="TRANSFORMER_BASED_WRAP",
                    FSDP_STATE_DICT_TYPE="FULL_STATE_DICT", FSDP_RESHARD_AFTER_FORWARD="true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lin = get_variant(Store(db), "fsdp")["lineage"]
    assert (lin["world_size"], lin["strategy"], lin["global_batch"]) == (2, "fsdp2", 4)
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out)
