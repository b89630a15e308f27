"""Issue #27, ``medtune tune``: recipe values TrainingArguments would choke on mid-run, output folders that
cannot be, two runs of one name at once, and checkpoints broken in ways a kill -9 or a full disk leaves them."""

from __future__ import annotations

import json

import pytest

from harness.store import Store
from harness.store.variants import get_variant
from tests.harness.clihelp import run_cli
from tests.harness.test_rough_edges import files_in, one_line_exit_2

LM = {"data__files": ["corpus/bio.txt"], "data__limit": 40, "data__eval_size": 4, "data__format": "text"}


@pytest.mark.parametrize("sets, message", [
    (["train.trainer_args.max_grad_norm=abc"],
     "field 'train.trainer_args.max_grad_norm': 'abc' is not a valid max_grad_norm (float: input should be a valid number)"),
    (["train.trainer_args.dataloader_num_workers=1.5"], "trainer_args.dataloader_num_workers': 1.5 is not a valid dataloader_num_workers (int"),
    (["train.trainer_args.fp16=true", "train.device=cpu"],
     "field 'train.trainer_args.fp16': fp16 mixed precision needs a CUDA GPU and this run trains on the CPU"),
    (["output_dir={tmp}/notes.txt"], "{tmp}/notes.txt is a file, expected a folder for the variant"),
    (["output_dir={tmp}/notes.txt/variant"], "{tmp}/notes.txt is a file, so no folder can be made under it"),
], ids=["max_grad_norm", "int-field", "fp16-on-cpu", "output-is-a-file", "output-under-a-file"])
def test_recipe_values_and_output_folders_are_checked_before_any_work(capsys, tmp_path, tiny_causal, tiny_data,
                                                                      sets, message):
    (tmp_path / "notes.txt").write_text("not a folder\n")
    db = tmp_path / "r.duckdb"
    before = files_in(tmp_path)
    argv = ["tune", "demo_dapt_smollm2", "--set", f"base={tiny_causal}", "--set", "data.files=[corpus/bio.txt]",
            "--set", "train.max_steps=2", "--db", str(db), "--data-root", str(tiny_data)]
    for s in sets:
        argv += ["--set", s.format(tmp=tmp_path)]
    if not any(s.startswith("output_dir") for s in sets):
        argv += ["--set", f"output_dir={tmp_path / 'out'}"]
    line = one_line_exit_2(*run_cli(capsys, *argv))
    assert message.format(tmp=tmp_path) in line
    assert files_in(tmp_path) == before


def test_a_second_run_of_the_same_name_at_once_is_refused(capsys, tmp_path, tiny_causal, tiny_data):
    """Two runs of one name used to both train into one folder and both print "registered"."""
    from tuning.lineage import claim

    db, out = tmp_path / "r.duckdb", tmp_path / "variants" / "twin"
    argv = ["tune", "demo_dapt_smollm2", "--set", f"base={tiny_causal}", "--set", "name=twin", "--set",
            f"output_dir={out}", "--db", str(db), "--data-root", str(tiny_data)]
    with claim("twin", out, db):  # the first run, still training
        line = one_line_exit_2(*run_cli(capsys, *argv))
    assert "variant 'twin' is being tuned by another medtune process right now" in line
    assert not db.exists() and not out.exists()
    with claim("other", out, tmp_path / "other.duckdb"):  # another name into the same folder
        line = one_line_exit_2(*run_cli(capsys, *argv))
    assert f"the output folder {out} is being tuned by another medtune process" in line


def _interrupted_at_save(tune_recipe, tiny_causal, name: str, saves: int):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        seen = 0

        def on_save(self, args, state, control, **kwargs):
            Interrupt.seen += 1
            if Interrupt.seen == saves:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune_recipe("demo_dapt_smollm2", tiny_causal, name=name, callbacks=[Interrupt()], **LM)


def test_a_truncated_checkpoint_is_discarded_and_the_previous_one_resumed(tmp_path, tiny_causal, tune_recipe):
    """A checkpoint whose trainer_state.json is intact but whose weights were cut short (a full disk) failed every
    resume; it is discarded like a torn one and the run resumes from the checkpoint before it."""
    _interrupted_at_save(tune_recipe, tiny_causal, "cut", saves=2)
    ckpts = tmp_path / "variants" / "cut" / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    weights = ckpts / "checkpoint-4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    notices: list[str] = []
    out = tune_recipe("demo_dapt_smollm2", tiny_causal, name="cut", echo=notices.append, **LM)
    assert out.lineage["resumed_from_step"] == 2 and out.curves[-1]["step"] == 4
    assert notices == ["discarded incomplete checkpoint-4 (interrupted while saving: its weights are cut short); "
                       "resuming from checkpoint-2"]


def test_a_torn_recipe_stamp_discards_its_checkpoints_once(tmp_path, tiny_causal, tune_recipe):
    _interrupted_at_save(tune_recipe, tiny_causal, "torn", saves=1)
    stamp = tmp_path / "variants" / "torn" / "checkpoints" / "recipe.json"
    stamp.write_text(stamp.read_text()[:20])  # killed while writing it
    notices: list[str] = []
    out = tune_recipe("demo_dapt_smollm2", tiny_causal, name="torn", echo=notices.append, **LM)
    assert out.lineage["resumed_from_step"] == 0
    assert notices == ["discarded checkpoints/: its recipe.json is unreadable (interrupted while written), so its "
                       "checkpoints cannot be matched to this config; starting afresh"]
    assert get_variant(Store(tmp_path / "results.duckdb"), "torn") is not None


def test_the_recipe_stamp_is_written_whole(tmp_path, tiny_causal, tune_recipe):
    _interrupted_at_save(tune_recipe, tiny_causal, "stamped", saves=1)
    folder = tmp_path / "variants" / "stamped" / "checkpoints"
    assert json.loads((folder / "recipe.json").read_text())["hash"]
    assert not list(folder.glob("*.tmp"))
