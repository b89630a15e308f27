"""Settings that used to give silent wrong scores (or a traceback) are one-line errors, exit 2, nothing written."""

import pytest

from harness.errors import MedtuneError
from harness.evaluate import RunSettings
from harness.store import Store
from tests.harness.clihelp import run_cli


def _fails_cleanly(capsys, message, *argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 2
    return err


@pytest.mark.parametrize("args,message", [
    (["--limit", "-3"], "--limit -3: must be an integer >= 1"),
    (["--limit", "0"], "--limit 0: must be an integer >= 1"),
    (["--num-fewshot", "-2"], "--num-fewshot -2: must be an integer >= 0"),
    (["--batch-size", "0"], "--batch-size 0: expected a positive integer or auto"),
    (["--batch-size", "-4"], "--batch-size -4: expected a positive integer or auto"),
    (["--device", "tpu"], "--device tpu: expected auto, cpu, cuda, cuda:N or mps"),
    (["--device", "cuda-1"], "--device cuda-1: expected auto, cpu, cuda, cuda:N or mps"),
    (["--dtype", "fp64"], "--dtype fp64: expected one of auto"),
])
def test_eval_refuses_bad_settings(capsys, data_root, db, args, message):
    _fails_cleanly(capsys, message, "eval", "--variant", "smollm2-135m", "--suite", "medqa_usmle", "--db", str(db),
                   "--data-root", str(data_root), *args)
    assert not db.exists()


def test_cuda_asked_but_absent_is_a_clear_error(capsys, data_root, db):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    _fails_cleanly(capsys, "--device cuda: no CUDA device is available", "eval", "--variant", "smollm2-135m",
                   "--suite", "medqa_usmle", "--device", "cuda", "--db", str(db), "--data-root", str(data_root))
    assert not db.exists()


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": -3}, {"num_fewshot": -1}, {"batch_size": 0},
                                    {"batch_size": "zero"}, {"device": "tpu"}, {"engine": "vllm"}])
def test_python_api_gets_the_same_checks(tmp_path, kwargs):
    with pytest.raises(MedtuneError):
        RunSettings(**kwargs)


def test_good_settings_are_normalised(tmp_path):
    req = RunSettings(limit=1, num_fewshot=0, batch_size="8", device="cpu")
    assert req.batch_size == 8


@pytest.mark.parametrize("argv,message", [
    (["suites", "--format", "xml"], "--format xml: expected table or json"),
    (["results", "--format", "xml", "--db", "{db}"], "--format xml: expected table, json or csv"),
])
def test_unknown_format_is_refused(capsys, db, argv, message):
    _fails_cleanly(capsys, message, *(a.format(db=db) for a in argv))


@pytest.mark.parametrize("argv,message", [
    (["forgetting", "--variant", "v", "--limit", "0"], "--limit 0: must be an integer >= 1"),
    (["forgetting", "--variant", "v", "--suite-limit", "wikitext2=0"], "--limit 0: must be an integer >= 1"),
    (["forgetting", "--variant", "v", "--suite-limit", "wikitext2=many"], "--suite-limit wikitext2=many"),
    (["forgetting", "--variant", "v", "--device", "tpu"], "--device tpu"),
    (["audit", "robustness", "--variant", "v", "--suite", "medqa_usmle", "--limit", "-1"], "--limit -1"),
    (["audit", "robustness", "--variant", "v", "--suite", "medqa_usmle", "--batch-size", "0"], "--batch-size 0"),
    (["audit", "robustness", "--variant", "v", "--suite", "medqa_usmle", "--device", "tpu"], "--device tpu"),
    (["audit", "leakage", "--variant", "v", "--device", "tpu"], "--device tpu"),
])
def test_other_commands_refuse_the_same_settings(capsys, data_root, db, argv, message):
    _fails_cleanly(capsys, message, *argv, "--db", str(db), "--data-root", str(data_root))
    assert not db.exists()
