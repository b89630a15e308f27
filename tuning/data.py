"""Training data of a recipe: corpus records -> examples, a validation split, replay, canaries.

An ``Example`` is either language-model text (``answer is None``: loss on every token) or a
prompt with its ``answer`` (supervised QA: loss on the answer only). Every file read is listed
with its sha256 and role (train / eval / replay / canary) for the variant's lineage; that list
is ``lineage["data_files"]``, which the leakage audit reads to find a variant's training texts.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from harness import training_records
from harness.errors import ConfigError, MedtuneError
from harness.evaluate import file_sha256

# Record tags of the structured ICD-10 serialisation; added to the tokenizer as special tokens.
ICD_TAGS = ["<icd", "</icd>"]
# Files that score forgetting (suites of the general family): never replay them.
FORGETTING_EVAL_PARTS = ("general",)
FORGETTING_EVAL_NAMES = ("wikitext2_test.raw",)


@dataclass
class Example:
    id: str
    text: str
    answer: str | None = None  # QA target; None for language-model text


@dataclass
class TrainingData:
    train: list[Example]
    eval: list[Example]
    files: list[dict] = field(default_factory=list)  # {path, sha256, role, format}
    special_tokens: list[str] = field(default_factory=list)
    canaries: list[dict] = field(default_factory=list)

    @property
    def eval_ids(self) -> list[str]:
        return [e.id for e in self.eval]


def data_file(root: Path, rel: str, what: str) -> Path:
    path = Path(rel).expanduser()
    path = path if path.is_absolute() else root / path
    if path.is_dir():
        raise MedtuneError(f"{what}: {path} is a folder, expected a file (name the files in it)")
    if path.exists() and not path.is_file():
        raise MedtuneError(f"{what}: {path} is not a regular file (a FIFO or device?), expected a data file")
    if not path.is_file():
        raise MedtuneError(f"{what}: file {path} not found (data root {root}; set --data-root or MEDTUNE_DATA)")
    return path


def file_entry(path: Path, role: str, fmt: str) -> dict:
    return {"path": str(path), "sha256": file_sha256(path), "role": role, "format": fmt}


# -- readers: the records of a data file, read by harness.training_records (the leakage audit reads the same) --
def _examples(records) -> list[Example]:
    return [Example(r.id, r.text, r.answer) for r in records]


def read_text(path: Path, limit: int | None) -> list[Example]:
    return _examples(training_records.records(path, "text", limit, what="data file"))


def read_icd10(path: Path, limit: int | None) -> list[Example]:
    """``code<TAB>description[<TAB>inclusion terms]`` rows, serialised as tagged records."""
    return _examples(training_records.records(path, "icd10", limit, what="data file"))


def read_pubmedqa_train(root: Path, limit: int | None) -> tuple[list[Example], list[dict]]:
    """PQA-L minus the 500 official test ids, prompted exactly as the ``pubmedqa`` suite asks."""
    from suites import load_suite

    suite = load_suite("pubmedqa")
    examples = _examples(training_records.pubmedqa_records(root, "train", limit))
    files = [file_entry(root / suite.spec.data.path, "train", "pubmedqa"),
             file_entry(root / suite.spec.data.extra["test_ids"], "excluded_ids", "json")]
    return examples, files


# -- the recipe's data ------------------------------------------------------------------------
def load_training_data(data, root: Path, seed: int) -> TrainingData:
    """Read ``recipe.data`` (not replay: that may need the parent model; see ``add_replay``)."""
    if data.format == "pubmedqa":
        examples, files = read_pubmedqa_train(root, data.limit)
        if data.qa_loss == "all":  # the whole record is language-model text: loss on every token
            examples = [Example(e.id, e.text + e.answer) for e in examples]
    elif data.format in ("text", "icd10"):
        examples, files = [], []
        for rel in data.files:
            path = data_file(root, rel, "data.files")
            examples += (read_text if data.format == "text" else read_icd10)(path, data.limit)
            files.append(file_entry(path, "train", data.format))
    else:
        raise ConfigError(f"data.format {data.format!r} is read by its own method (ner_head), not by {__name__}")
    if len(examples) < 2:
        where = ", ".join(data.files) if data.format != "pubmedqa" else "the pubmedqa suite's train split"
        noun = "record" if len(examples) == 1 else "records"
        raise MedtuneError(f"data: {len(examples)} usable {noun} in {where}; need at least 2")
    train, held_out = split(examples, data.eval_size, seed)
    files += [dict(f, role="eval") for f in files if f["role"] == "train"]
    special = data.special_tokens if data.special_tokens is not None else (ICD_TAGS if data.format == "icd10" else [])
    return TrainingData(train, held_out, files, list(special))


def split(examples: list[Example], eval_size: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out ``eval_size`` (a fraction < 1, or a count) for validation; at least one of each."""
    n_eval = round(eval_size * len(examples)) if eval_size < 1 else int(eval_size)
    if n_eval >= len(examples):
        raise ConfigError(f"data.eval_size {eval_size:g} holds out {n_eval} of the {len(examples)} records, leaving none "
                          f"to train on: use a count below {len(examples)} or a fraction (e.g. 0.1)")
    n_eval = max(n_eval, 1)
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    return ([e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held])


def check_replay_source(replay, root: Path) -> Path | None:
    """The replay file (None for self-synthesised); refuses the forgetting suite's eval sets."""
    if replay is None or replay.file == "self":
        return None
    path = data_file(root, replay.file, "data.replay.file")
    resolved = path.resolve()
    under_general = any(part in resolved.relative_to(resolved.anchor).parts for part in FORGETTING_EVAL_PARTS)
    if resolved.name in FORGETTING_EVAL_NAMES or (under_general and resolved.is_relative_to(root.resolve())):
        raise ConfigError(f"data.replay.file {path}: this is an eval set of the forgetting suite; replaying it would "
                          "contaminate that measurement. Name another general-domain text file, or use 'self'")
    return path


def add_replay(td: TrainingData, replay, root: Path, seed: int, generate=None) -> None:
    """Mix general-domain passages into ``td.train`` so they make up ``replay.ratio`` of it.

    ``generate(n) -> list[str]`` supplies self-synthesised passages when ``replay.file`` is 'self'.
    """
    if replay is None:
        return
    n = max(1, round(replay.ratio / (1 - replay.ratio) * len(td.train)))
    path = check_replay_source(replay, root)
    if path is None:
        texts = generate(n)
        td.files.append({"path": "self", "sha256": hashlib.sha256("\n".join(texts).encode()).hexdigest(),
                         "role": "replay", "format": "text"})
    else:
        pool = read_text(path, None)
        if not pool:
            raise MedtuneError(f"data.replay.file {path}: no text lines")
        texts = [e.text for e in random.Random(seed).sample(pool, min(n, len(pool)))]
        td.files.append(file_entry(path, "replay", "text"))
    td.train += [Example(f"replay:{i}", t) for i, t in enumerate(texts)]
    random.Random(seed).shuffle(td.train)


def require_canaries():
    """``tuning.canaries.plant_canaries`` (the leakage audit's module), or a clear error."""
    try:
        from tuning.canaries import plant_canaries
    except ImportError as exc:
        raise MedtuneError(f"data.canaries needs tuning.canaries.plant_canaries (the leakage audit module): {exc}") from None
    return plant_canaries


def plant(td: TrainingData, canaries, plant_canaries) -> None:
    """Plant canaries into the training texts only (never the validation split)."""
    if canaries is None:
        return
    lm = [e.text for e in td.train if e.answer is None]
    qa = [e for e in td.train if e.answer is not None]
    texts, records = plant_canaries(lm, canaries.count, canaries.repetitions, canaries.seed)
    td.train = qa + [Example(f"lm:{i}", t) for i, t in enumerate(texts)]
    random.Random(canaries.seed).shuffle(td.train)
    td.canaries = list(records)
