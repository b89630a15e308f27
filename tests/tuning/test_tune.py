"""Training runs of the shipped recipes on tiny models: registration, lineage, curves, outputs."""

from __future__ import annotations

import json

import pytest

from harness.store import Store
from harness.store.variants import get_variant
from tests.harness.clihelp import run_cli

LM = {"data__files": ["corpus/bio.txt"], "data__limit": 60, "data__eval_size": 4}


def curve(tmp_path, name):
    return Store(tmp_path / "results.duckdb").query(
        "SELECT step, train_loss, eval_loss, learning_rate, tokens_seen FROM training_curves WHERE variant = ? ORDER BY step",
        [name])


def test_dapt_cli_registers_variant_with_lineage_curve_and_tree(capsys, tmp_path, tiny_causal, tiny_data):
    db = tmp_path / "results.duckdb"
    sets = ["base=" + str(tiny_causal), "data.files=[corpus/bio.txt]", "data.limit=60", "data.eval_size=4",
            "train.max_steps=4", "train.grad_accum=1", "train.eval_every=2", "train.log_every=1", "train.seq_length=32", "train.batch=2",
            f"output_dir={tmp_path / 'out'}"]
    code, out, err = run_cli(capsys, "tune", "demo_dapt_smollm2", *[a for s in sets for a in ("--set", s)],
                             "--db", str(db), "--data-root", str(tiny_data))
    assert code == 0, err
    assert "registered demo_dapt_smollm2" in out and "--suite pubmedqa" in out  # what to run next
    row = get_variant(Store(db), "demo_dapt_smollm2")
    assert row["parent"] == "tiny-llama" and row["method"] == "dapt" and row["kind"] == "causal"
    lin = row["lineage"]
    assert lin["data_files"][0]["role"] == "train" and len(lin["data_files"][0]["sha256"]) == 64
    assert {f["role"] for f in lin["data_files"]} == {"train", "eval"}
    assert lin["tokens_seen"] == 4 * 2 * 32 and lin["seed"] == 42 and lin["config"]["train"]["max_steps"] == 4
    for key in ("code_version", "wall_s", "tokens_per_s", "peak_memory_bytes", "device", "eval_ids"):
        assert lin[key], key
    rows = curve(tmp_path, "demo_dapt_smollm2")
    assert rows.eval_loss.notna().sum() == 2 and rows.train_loss.notna().sum() >= 2
    assert list(rows.tokens_seen.dropna())[-1] == lin["tokens_seen"]
    assert get_variant(Store(db), "tiny-llama")["method"] == "base"
    assert not (tmp_path / "out" / "checkpoints").exists()  # cleaned up once registered

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")  # a plain HF directory
    assert AutoTokenizer.from_pretrained(tmp_path / "out").model_max_length == model.config.max_position_embeddings
    code, out, _ = run_cli(capsys, "variants", "--db", str(db))
    assert code == 0 and "tiny-llama" in out and "demo_dapt_smollm2" in out and "dapt" in out
    code, _, err = run_cli(capsys, "tune", "demo_dapt_smollm2", *[a for s in sets for a in ("--set", s)],
                           "--db", str(db), "--data-root", str(tiny_data))
    assert code == 2 and "already registered" in err


def test_seeded_cpu_run_repeats_its_loss_curve(tmp_path, tiny_causal, tune_recipe):
    a = tune_recipe("demo_dapt_smollm2", tiny_causal, name="a", **LM)
    b = tune_recipe("demo_dapt_smollm2", tiny_causal, name="b", **LM)
    c = tune_recipe("demo_dapt_smollm2", tiny_causal, name="c", train__seed=7, **LM)
    assert a.curves == b.curves
    assert [r["train_loss"] for r in a.curves] != [r["train_loss"] for r in c.curves]


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, tiny_causal, tune_recipe):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt

    whole = tune_recipe("demo_dapt_smollm2", tiny_causal, name="whole", **LM)
    with pytest.raises(KeyboardInterrupt):
        tune_recipe("demo_dapt_smollm2", tiny_causal, name="cut", callbacks=[Interrupt()], **LM)
    assert get_variant(Store(tmp_path / "results.duckdb"), "cut") is None  # nothing registered
    resumed = tune_recipe("demo_dapt_smollm2", tiny_causal, name="cut", **LM)
    assert resumed.lineage["resumed_from_step"] == 2
    assert [r["train_loss"] for r in resumed.curves] == pytest.approx([r["train_loss"] for r in whole.curves])
    assert resumed.lineage["tokens_seen"] == whole.lineage["tokens_seen"]


def test_icd10_records_add_tags_as_special_tokens(tmp_path, tiny_causal, tune_recipe):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tune_recipe("demo_dapt_smollm2", tiny_causal, name="icd", data__files=["corpus/icd.tsv"],
                      data__format="icd10", data__eval_size=2)
    tok = AutoTokenizer.from_pretrained(out.path)
    ids = tok.encode('<icd code="A00.0">Cholera</icd>', add_special_tokens=False)
    assert tok.convert_tokens_to_ids("<icd") in ids and tok.convert_tokens_to_ids("</icd>") in ids
    model = AutoModelForCausalLM.from_pretrained(out.path)
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert out.lineage["special_tokens_added"] == ["<icd", "</icd>"]


def test_encoder_gets_masked_lm_with_a_fresh_head(tmp_path, tiny_encoder, tune_recipe):
    from transformers import AutoModelForMaskedLM

    out = tune_recipe("demo_dapt_smollm2", tiny_encoder, name="mlm", **LM)
    assert out.kind == "encoder" and out.lineage["objective"] == "masked_lm"
    model = AutoModelForMaskedLM.from_pretrained(out.path)
    assert model.cls.predictions.decoder.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert out.curves[-1]["eval_loss"] is not None


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_adapter_on_a_dapt_variant_loads_by_name(tmp_path, tiny_causal, tiny_causal_4bit, tune_recipe, method):
    from harness.models import resolve
    from harness.models.hf_load import load_tokenizer

    # QLoRA: a base whose Linear shapes bitsandbytes' CPU kernels take, so every projection is really 4-bit
    tune_recipe("demo_dapt_smollm2", tiny_causal if method == "lora" else tiny_causal_4bit, **LM)
    out = tune_recipe("demo_lora_smollm2", "demo_dapt_smollm2", method=method, data__limit=16,
                      data__eval_size=4, train__seq_length=96, lora__target_modules=["q_proj", "v_proj"])
    cfg = json.loads((tmp_path / "variants" / "demo_lora_smollm2" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(tmp_path / "variants" / "demo_dapt_smollm2")
    ref = resolve("demo_lora_smollm2", store=Store(tmp_path / "results.duckdb"))
    assert ref.adapter == out.path and ref.path == cfg["base_model_name_or_path"]
    assert len(load_tokenizer(ref)) > 0
    assert out.parent == "demo_dapt_smollm2" and out.lineage["adapter"] == ("lora" if method == "lora" else "qlora-nf4")
    roles = {f["role"] for f in out.lineage["data_files"]}
    assert roles == {"train", "eval", "excluded_ids"}
    assert not set(out.lineage["eval_ids"]) & {str(1000 + i) for i in range(8)}  # never the official test ids
    if method == "qlora":  # 7 projections x 2 layers in nf4 (lm_head, tied to the embeddings, stays full)
        assert out.lineage["quantised_layers"] == 14


def test_lora_with_added_tokens_reloads_as_trained_through_the_harness(tmp_path, tiny_causal, tune_recipe, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM

    import tuning.methods.lora as lora_method
    from harness.models import resolve
    from harness.models.hf_load import load_model, load_tokenizer

    trained = {}
    save = lora_method.save_variant
    monkeypatch.setattr(lora_method, "save_variant", lambda m, t, *a, **k: (trained.update(model=m, tok=t), save(m, t, *a, **k)))
    tune_recipe("demo_lora_smollm2", tiny_causal, name="icd_lora", data__files=["corpus/icd.tsv"], data__format="icd10",
                data__eval_size=2, train__lr=0.05)
    ids = torch.tensor([trained["tok"].encode('<icd code="A00.0">Cholera</icd>', add_special_tokens=False)])
    ref = resolve("icd_lora", store=Store(tmp_path / "results.duckdb"))
    tok = load_tokenizer(ref)
    assert len(tok) == len(trained["tok"]) and tok.convert_tokens_to_ids("</icd>") in ids[0].tolist()
    reloaded = load_model(ref, AutoModelForCausalLM, "cpu", torch.float32, tok)
    with torch.no_grad():
        assert torch.allclose(trained["model"].eval()(ids).logits, reloaded(ids).logits, atol=1e-5)


def test_next_step_names_a_suite_the_variant_can_be_scored_on():
    from harness.cli.tune_cmd import next_step

    ner = next_step("v", {"objective": "token_classification"}, ["ner/bc5cdr/train.tsv"])
    assert ner.endswith("--variant v --suite ner_bc5cdr")
    assert "ner_head_ncbi --set base=v" in next_step("v", {"objective": "masked_lm"}, ["corpus/biomed_sentences.txt"])
    assert "--suite pubmedqa" in next_step("v", {"objective": "causal_lm"}, ["corpus/bio.txt"])


def test_adapter_parent_is_recorded_with_its_adapter_path(tmp_path, tiny_causal, tune_recipe):
    """A dapt variant on an (unregistered) LoRA adapter directory: the parent row, Outcome.parent_path and
    lineage["parent_path"] all name the adapter, so the parent resolves to base + adapter, not the bare base."""
    import shutil

    from harness.models import resolve

    lora = tune_recipe("demo_lora_smollm2", tiny_causal, name="lora1", data__limit=16, data__eval_size=4)
    adapter_dir = tmp_path / "outside-adapter"
    shutil.copytree(lora.path, adapter_dir)
    out = tune_recipe("demo_dapt_smollm2", adapter_dir, name="on_adapter", **LM)
    assert out.parent == "outside-adapter"
    assert out.parent_path == out.lineage["parent_path"] == str(adapter_dir)
    store = Store(tmp_path / "results.duckdb")
    assert get_variant(store, "outside-adapter")["path"] == str(adapter_dir)
    parent = resolve("outside-adapter", store=store)
    assert parent.adapter == str(adapter_dir) and parent.path == str(tiny_causal)
