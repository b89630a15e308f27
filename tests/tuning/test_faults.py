"""Faults around a tuning run: a checkpoint torn by kill -9, unseeded adapter weights, a foreign DB."""

from __future__ import annotations

import pytest

from harness.store import Store
from harness.store.variants import get_variant

LM = {"data__files": ["corpus/bio.txt"], "data__limit": 40, "data__eval_size": 4, "data__format": "text"}


def test_a_checkpoint_torn_while_saving_is_skipped_on_resume(tmp_path, tiny_causal, tune_recipe):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune_recipe("demo_dapt_smollm2", tiny_causal, name="cut", callbacks=[Interrupt()], **LM)
    torn = tmp_path / "variants" / "cut" / "checkpoints" / "checkpoint-4"  # kill -9 before trainer_state.json
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"half a file")
    notices: list[str] = []
    resumed = tune_recipe("demo_dapt_smollm2", tiny_causal, name="cut", echo=notices.append, **LM)
    assert resumed.lineage["resumed_from_step"] == 2 and resumed.curves[-1]["step"] == 4
    assert notices == ["discarded incomplete checkpoint-4 (interrupted while saving: no complete trainer_state.json); "
                       "resuming from checkpoint-2"]


def test_only_torn_checkpoints_start_afresh(tmp_path, tiny_causal, tune_recipe):
    torn = tmp_path / "variants" / "fresh" / "checkpoints" / "checkpoint-2"
    torn.mkdir(parents=True)
    (torn / "trainer_state.json").write_text('{"global_st')  # killed while writing the state itself
    notices: list[str] = []
    out = tune_recipe("demo_dapt_smollm2", tiny_causal, name="fresh", echo=notices.append, **LM)
    assert out.lineage["resumed_from_step"] == 0 and notices[0].endswith("starting afresh")
    assert get_variant(Store(tmp_path / "results.duckdb"), "fresh") is not None


def test_seeded_lora_runs_repeat_their_loss_curve(tiny_causal, tune_recipe):
    """The adapter's random init happens before training; the seed is set before any weights are made."""
    a = tune_recipe("demo_lora_smollm2", tiny_causal, name="a", **LM)
    b = tune_recipe("demo_lora_smollm2", tiny_causal, name="b", **LM)
    c = tune_recipe("demo_lora_smollm2", tiny_causal, name="c", train__seed=7, **LM)
    assert a.curves == b.curves
    assert [r["train_loss"] for r in a.curves] != [r["train_loss"] for r in c.curves]


def test_a_foreign_duckdb_is_refused_before_the_model_loads(tmp_path, tiny_causal, tiny_data, monkeypatch):
    import duckdb

    import tuning.models
    from harness.errors import MedtuneError
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    db = tmp_path / "invoices.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE invoices (id INTEGER, total DOUBLE)")
    con.close()
    monkeypatch.setattr(tuning.models, "load_causal", lambda *a, **k: pytest.fail("model loaded"))
    spec = load_recipe("demo_dapt_smollm2", {"base": str(tiny_causal), "data.files": ["corpus/bio.txt"],
                                             "output_dir": str(tmp_path / "out")})
    ctx = TuneContext(store=Store(db), data_root=tiny_data, output=spec.output_path(), show_progress=False,
                      echo=lambda m: None)
    with pytest.raises(MedtuneError, match="not a medtune results DB"):
        tune(spec, ctx)
    con = duckdb.connect(str(db), read_only=True)
    assert [r[0] for r in con.execute("SHOW TABLES").fetchall()] == ["invoices"]
    con.close()
    assert not (tmp_path / "out").exists()
