"""Text as the leakage audit sees it: suite items rendered to plain text, training files read as
documents, and the GPT-3 / lm-eval janitor normalisation (lower-case ASCII, punctuation deleted,
whitespace split) applied before any n-gram is formed.
"""

from __future__ import annotations

import csv
import json
import string
from pathlib import Path
from typing import Iterator

from harness.errors import DataError, MedtuneError

# The same translation table as lm_eval.decontamination.janitor.Janitor (importing that module
# prints a warning about its missing C++ extension, so the three lines are repeated here).
_JANITOR_TABLE = str.maketrans(string.ascii_lowercase + string.ascii_uppercase, string.ascii_lowercase * 2,
                               string.punctuation)


def normalize(text: str) -> str:
    return text.translate(_JANITOR_TABLE)


def words(text: str) -> list[str]:
    return normalize(text).split()


# -- suite items ---------------------------------------------------------------------------
_ITEM_FIELDS = ("question", "abstract", "context", "text", "query", "passage")


def item_text(doc: dict) -> str:
    """What a suite item says, as one string: question, context/abstract, options; NER words."""
    parts = [str(doc[f]) for f in _ITEM_FIELDS if isinstance(doc.get(f), str)]
    for key in ("choices", "endings"):
        if isinstance(doc.get(key), list):
            parts.extend(str(c) for c in doc[key])
    for key in ("words", "tokens"):
        if isinstance(doc.get(key), list):
            parts.append(" ".join(str(w) for w in doc[key]))
    return " ".join(parts)


# -- training files --------------------------------------------------------------------------
from harness.corpus import Document, record_text  # noqa: E402,F401  (one Document class and record text for the corpus reader and the audit)


def read_documents(path: str | Path, what: str = "training file") -> Iterator[Document]:
    """Documents of a text (.txt: one a line), JSON Lines, JSON (list or dict of records) or TSV/CSV file."""
    path = Path(path)
    if not path.is_file():
        raise MedtuneError(f"{what} {path} cannot be read: no such file")
    suffix = path.suffix.lower()
    try:
        with open(path, encoding="utf-8") as f:
            if suffix == ".jsonl":
                for lineno, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            yield Document(f"{path}:{lineno}", record_text(json.loads(line)))
                        except json.JSONDecodeError as exc:
                            raise DataError(path, lineno, f"malformed JSON ({exc.msg})") from None
            elif suffix == ".json":
                try:
                    data = json.load(f)
                except json.JSONDecodeError as exc:
                    raise DataError(path, exc.lineno, f"malformed JSON ({exc.msg})") from None
                items = data.items() if isinstance(data, dict) else enumerate(data if isinstance(data, list) else [data])
                for key, rec in items:
                    yield Document(f"{path}#{key}", record_text(rec))
            elif suffix in (".tsv", ".csv"):
                reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if suffix == ".tsv" else csv.reader(f)
                for row in reader:
                    if row:
                        yield Document(f"{path}:{reader.line_num}", " ".join(row))
            else:  # .txt, .raw, anything else: one document a line
                for lineno, line in enumerate(f, 1):
                    if line.strip():
                        yield Document(f"{path}:{lineno}", line)
    except UnicodeDecodeError as exc:
        raise MedtuneError(f"{what} {path} cannot be read: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise MedtuneError(f"{what} {path} cannot be read: {exc.strerror}") from None
