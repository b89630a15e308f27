"""Protocols recorded with every run, shown by `medtune results`, and enforced when runs are paired."""

import json

import pytest

from harness.errors import MedtuneError
from tests.generative.fakes import CHAT
from tests.harness.clihelp import run_cli


@pytest.fixture(scope="module")
def chat_model(tiny_causal, tmp_path_factory):
    """The tiny model with a chat template in its tokenizer."""
    import shutil

    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("models") / "tiny-chat"
    shutil.copytree(tiny_causal, path)
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = CHAT
    tok.save_pretrained(path)
    return path


def _eval(capsys, *args):
    code, out, err = run_cli(capsys, "eval", "--device", "cpu", "--limit", "3", *args)
    assert code == 0, out + err
    return out


def test_protocol_recorded_shown_and_enforced(capsys, chat_model, db, data_root):
    from harness.forgetting.compare import compare_runs
    from harness.gate.sources import Sources
    from harness.store import Store
    from harness.store.runs import results_table
    from suites import load_suite

    common = ("--db", str(db), "--data-root", str(data_root))
    _eval(capsys, "--variant", str(chat_model), "--name", "base", "--suite", "pubmedqa", *common)
    _eval(capsys, "--variant", str(chat_model), "--name", "chat", "--suite", "pubmedqa", "--chat-template",
          "--system-prompt", "Be brief.", *common)
    _eval(capsys, "--variant", str(chat_model), "--name", "plain", "--suite", "pubmedqa", *common)
    store = Store(db)
    df = results_table(store)
    label = dict(zip(df.variant, df.protocol))
    assert label == {"base": "cloze 0-shot", "chat": "cloze chat+sys 0-shot", "plain": "cloze 0-shot"}
    runs = dict(zip(df.variant, df.run_id))
    with store.connect() as con:
        settings = json.loads(con.execute("SELECT settings FROM runs WHERE run_id = ?", [runs["chat"]]).fetchone()[0])
    proto = settings["protocol"]
    assert proto["scoring"] == "cloze" and proto["system_prompt"] == "Be brief." and len(proto["chat_template"]) == 12
    assert set(df[df.variant == "chat"].protocol_id) == {proto["id"]}

    code, out, _ = run_cli(capsys, "results", "--db", str(db), "--format", "json")
    assert code == 0 and "cloze chat+sys 0-shot" in out

    from tests.dashboards.test_pages import open_page

    page = open_page(db, "overview", pytest.MonkeyPatch())  # the overview's scores table has a protocol column
    table = page.dataframe[0].value.set_index("variant")
    assert table.protocol.to_dict() == {"base": "cloze 0-shot", "chat": "cloze chat+sys 0-shot", "plain": "cloze 0-shot"}

    sources = Sources(store)
    with pytest.raises(MedtuneError, match=r"different protocols \(chat_template: [0-9a-f]{12} vs None; system_prompt"):
        sources.paired("pubmedqa", runs["chat"], runs["base"])
    a, b = sources.paired("pubmedqa", runs["plain"], runs["base"])  # same protocol: paired as before
    assert len(a) == len(b) == 3
    with pytest.raises(MedtuneError, match="different protocols"):
        compare_runs(store, load_suite("pubmedqa"), runs["chat"], runs["base"], "base model")


def test_gate_exits_2_naming_the_difference(capsys, chat_model, db, data_root, tmp_path):
    common = ("--db", str(db), "--data-root", str(data_root))
    _eval(capsys, "--variant", str(chat_model), "--name", "base", "--suite", "pubmedqa", *common)
    _eval(capsys, "--variant", str(chat_model), "--name", "cand", "--suite", "pubmedqa", "--chat-template", *common)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nnot_measured: pass\nrules:\n  - rule: max_drop\n    suite: pubmedqa\n    metric: acc\n    max_drop: 0.05\n")
    code, out, err = run_cli(capsys, "gate", "--candidate", "cand", "--baseline", "base", "--policy", str(policy),
                             "--db", str(db))
    assert code == 2, out + err
    assert "different protocols (chat_template:" in out + err


def test_chat_template_missing_exits_2(capsys, tiny_causal, db, data_root):
    code, out, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "pubmedqa", "--limit", "2",
                             "--device", "cpu", "--chat-template", "--db", str(db), "--data-root", str(data_root))
    assert code == 2
    lines = [l for l in (out + err).splitlines() if "chat template" in l]
    assert len(lines) == 1 and "has no chat template" in lines[0]


@pytest.mark.parametrize("option,match", [("extract=regex:(oops", "does not compile"),
                                          ("evaluate=[nobody/no-such-metric]", "cannot be loaded")])
def test_bad_generative_options_exit_2(capsys, tiny_causal, db, data_root, option, match):
    code, out, err = run_cli(capsys, "eval", "--variant", str(tiny_causal), "--suite", "pubmedqa_gen", "--limit", "1",
                             "--option", option, "--db", str(db), "--data-root", str(data_root))
    assert code == 2 and match in out + err, out + err
    assert len([l for l in (out + err).splitlines() if l.strip()]) == 1
