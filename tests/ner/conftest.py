"""NER fixtures: a data root holding the first sentences of each real CoNLL file, a tiny tagger
(the tiny BERT with a token-classification head), and a runner for the ner_head recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

FILES = {"ncbi_disease": ["O", "B-Disease", "I-Disease"],
         "bc5cdr": ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]}


def head_sentences(path: Path, n: int) -> str:
    """The first ``n`` sentences of a CoNLL file, as published."""
    out, count = [], 0
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        out.append(line)
        if not line.strip():
            count += 1
            if count == n:
                break
    return "".join(out)


@pytest.fixture(scope="session")
def ner_data(data_root, tmp_path_factory) -> Path:
    """A data root with ner/<corpus>/{train,devel,test}.tsv cut to a few real sentences each."""
    root = tmp_path_factory.mktemp("nerdata")
    for corpus in FILES:
        (root / "ner" / corpus).mkdir(parents=True)
        for split, n in (("train", 40), ("devel", 8), ("test", 12)):
            src = data_root / "ner" / corpus / f"{split}.tsv"
            (root / "ner" / corpus / f"{split}.tsv").write_text(head_sentences(src, n), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_tagger(tiny_encoder, tmp_path_factory) -> Path:
    """The tiny BERT with a fresh token-classification head over the NCBI-disease labels."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    labels = FILES["ncbi_disease"]
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    path = tmp_path_factory.mktemp("models") / "tiny-tagger"
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(path)
    return path


FAST = {"train.max_steps": 3, "train.eval_every": 2, "train.log_every": 1, "train.batch": 4, "train.seq_length": 32}
NER_PARAMS = {"params.eval_limit": 4, "params.time_budget_s": None}


@pytest.fixture()
def tune_ner(tmp_path, ner_data):
    """tune_ner(recipe, base, **overrides) -> Outcome, registered in ``tmp_path/results.duckdb``."""
    from harness.store import Store
    from tuning.recipe import load_recipe
    from tuning.train import TuneContext, tune

    def run(recipe: str, base, ner_params: bool = True, **sets):
        fast = {**FAST, **NER_PARAMS} if ner_params else FAST
        overrides = {**fast, "base": str(base), **{k.replace("__", "."): v for k, v in sets.items()}}
        overrides.setdefault("output_dir", str(tmp_path / "variants" / overrides.get("name", recipe)))
        spec = load_recipe(recipe, overrides)
        ctx = TuneContext(store=Store(tmp_path / "results.duckdb"), data_root=ner_data, output=spec.output_path(),
                          show_progress=False, echo=lambda m: None)
        return tune(spec, ctx)

    return run
