"""Models bigger than one device (--device-map auto, --load-in-4bit/8bit) and the vLLM backend: the CPU
path that works (bitsandbytes nf4 on CPU), and one clear error where the device cannot."""

from __future__ import annotations

import pytest

from harness.errors import MedtuneError
from tests.harness.clihelp import run_cli


@pytest.fixture(scope="module")
def tiny_64(tmp_path_factory):
    """Hidden 64 / intermediate 128: shapes bitsandbytes' 4-bit CPU kernels take."""
    from tests.tiny_models import make_tiny_causal

    return make_tiny_causal(tmp_path_factory.mktemp("m") / "tiny-64", hidden_size=64, intermediate_size=128)


def test_device_map_auto_without_cuda_is_one_clear_error(capsys, tmp_path, tiny_causal, data_root):
    code, out, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--limit", "1",
                             "--device-map", "auto", "--db", str(tmp_path / "r.duckdb"), "--data-root", str(data_root))
    assert code == 2 and "--device-map auto spreads the layers over CUDA GPUs" in err and "Traceback" not in err


def test_conflicting_big_model_options_refused(capsys, tmp_path, tiny_causal):
    code, _, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle",
                           "--load-in-4bit", "--load-in-8bit", "--db", str(tmp_path / "r.duckdb"))
    assert code == 2 and "choose one" in err
    code, _, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--processes", "2",
                           "--device-map", "auto", "--db", str(tmp_path / "r.duckdb"))
    assert code == 2 and "choose one" in err


def test_bitsandbytes_unusable_device_is_one_clear_error(monkeypatch):
    import torch

    from harness.models import hf_load

    assert hf_load.big_model_options("cpu", torch.float32) == {}
    with pytest.raises(MedtuneError, match="bitsandbytes has no kernels for Apple MPS"):
        hf_load.big_model_options("mps", torch.float32, quantize="4bit")

    def broken(*a, **k):
        raise RuntimeError("no kernel image for this device")

    monkeypatch.setattr("bitsandbytes.nn.Linear4bit.forward", broken)
    with pytest.raises(MedtuneError, match=r"--load-in-4bit: bitsandbytes cannot run on cpu here \(RuntimeError: no kernel"):
        hf_load.big_model_options("cpu", torch.float32, quantize="4bit")


def test_4bit_eval_on_cpu_scores_and_keys_the_run_apart(tmp_path, tiny_64, data_root):
    from harness.evaluate import RunSettings, evaluate
    from harness.store import Store

    store = Store(tmp_path / "r.duckdb")
    full = evaluate(str(tiny_64), ["medqa_usmle"], RunSettings(limit=3, device="cpu"), store=store,
                    data_root=data_root, echo=lambda m: None)
    q = evaluate(str(tiny_64), ["medqa_usmle"], RunSettings(limit=3, device="cpu", quantize="4bit"), store=store,
                 data_root=data_root, echo=lambda m: None)
    assert q[0].status == "ran" and q[0].run_id != full[0].run_id  # 4-bit weights are never the fp32 run's cache
    assert 0 <= q[0].metrics["acc"].value <= 1
    from harness.models import load, resolve

    lm = load(resolve(str(tiny_64)), device="cpu", quantize="4bit")
    assert any("4bit" in type(m).__name__ for m in lm.model.modules())


def test_vllm_is_registered_and_says_not_available_on_cpu(tmp_path, tiny_causal, data_root, capsys):
    import torch

    from harness.models.registry import BACKENDS

    assert "vllm" in BACKENDS.names()
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the GPU-marked test covers vLLM")
    code, _, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "medqa_usmle", "--limit", "1",
                           "--backend", "vllm", "--db", str(tmp_path / "r.duckdb"), "--data-root", str(data_root))
    assert code == 2 and "backend vllm is not available here" in err and "CUDA" in err


@pytest.mark.gpu
def test_vllm_scores_like_hf_causal_on_gpu(tiny_causal):
    """Prompt log-probs match hf-causal's within bf16 noise; greedy generation returns text."""
    from harness import contract
    from harness.models import load, resolve

    ref = resolve(str(tiny_causal))
    v = load(ref, backend="vllm", dtype="float32")
    h = load(ref, backend="hf-causal", device="cuda", dtype="float32")
    reqs = [contract.loglikelihood(0, i, "The patient was treated with", c) for i, c in enumerate([" aspirin", " heparin"])]
    for a, b in zip(v.loglikelihood(reqs), h.loglikelihood(reqs)):
        assert a.n_tokens == b.n_tokens and a.logprob == pytest.approx(b.logprob, abs=1e-3)
    assert isinstance(v.generate_until([contract.generate_until(0, "Paris is", max_new_tokens=4)])[0], str)
