"""Answer extraction for generated text: the rule a generative suite declares, applied to one generation.

Every rule returns an ``Extraction``: the answer it found (normalised, comparable with the gold
answer) or ``None`` with the reason it failed. A failure is never turned into a guess: the sample
is scored wrong and counted in the suite's ``extraction_failed`` metric.

Rules (``extract:`` option of a generative suite):

- ``letter``: an option letter. Tried in order, the first that matches wins: "the answer is (B)" /
  "Answer: B" (the last such phrase), a lone "(B)" or "B." on the last line, a whole option's text
  when exactly one option's text appears; then the generation's only standalone option letter.
- ``choice``: one of the options' texts as a word (PubMedQA's yes/no/maybe): "the answer is X" /
  "Answer: X" first, else the generation's first word, else the only option word it contains.
- ``regex:<pattern>``: the pattern's first group (or whole match) of its LAST match, stripped.
- ``text``: the whole generation, stripped (free text, scored by exact match or an ``evaluate`` module).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import MedtuneError

LETTERS = "ABCDEFGHIJ"
RULES = ("letter", "choice", "text", "regex:<pattern>")


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    failure: str | None = None  # why nothing was extracted (None when ``answer`` is set)
    how: str = ""  # which fallback matched


def normalise(text: str) -> str:
    """Case-folded, whitespace-collapsed, outer punctuation stripped: how answers are compared."""
    return re.sub(r"\s+", " ", text).strip().strip(" .,:;!?\"'()[]").casefold()


class Extractor:
    """A compiled extraction rule; ``Extractor(rule, where)`` raises a one-line error for a bad rule."""

    def __init__(self, rule: str, where: str = "extract"):
        self.rule = rule
        self.kind = rule.split(":", 1)[0] if isinstance(rule, str) else None
        if self.kind == "regex":
            pattern = rule.split(":", 1)[1]
            try:
                self.pattern = re.compile(pattern, re.IGNORECASE | re.DOTALL)
            except re.error as exc:
                raise MedtuneError(f"{where}: the regex {pattern!r} does not compile: {exc}") from None
        elif self.kind not in ("letter", "choice", "text"):
            raise MedtuneError(f"{where}: {rule!r} is not an extraction rule (expected one of {', '.join(RULES)})")

    def __call__(self, generation: str, choices: list[str] | None = None) -> Extraction:
        text = generation or ""
        if not text.strip():
            return Extraction(None, "empty generation")
        if self.kind == "text":
            return Extraction(normalise(text), how="text")
        if self.kind == "regex":
            matches = list(self.pattern.finditer(text))
            if not matches:
                return Extraction(None, f"no match for {self.pattern.pattern!r}")
            m = matches[-1]
            value = m.group(1) if m.groups() and m.group(1) is not None else m.group(0)
            return Extraction(normalise(value), how="regex") if normalise(value) else Extraction(None, "empty match")
        if self.kind == "letter":
            return _letter(text, choices or [])
        return _choice(text, choices or [])


_ANSWER_IS = r"(?:answer\s*(?:is|:)|correct\s+(?:answer|option)\s*(?:is|:)?|option\s+is)\s*"


def _letter(text: str, choices: list[str]) -> Extraction:
    n = max(len(choices), 2)
    letters = LETTERS[:n]
    phrase = list(re.finditer(_ANSWER_IS + rf"\(?\s*([{letters}])\s*\)?(?![A-Za-z])", text, re.IGNORECASE))
    if phrase:
        return Extraction(phrase[-1].group(1).upper(), how="answer phrase")
    last = text.strip().splitlines()[-1].strip()
    lone = re.fullmatch(rf"\(?([{letters}])[\).:]?(?:\s.*)?", last)
    if lone:
        return Extraction(lone.group(1), how="last line")
    found = [LETTERS[i] for i, c in enumerate(choices) if c and normalise(c) and normalise(c) in normalise(text)]
    if len(found) == 1:
        return Extraction(found[0], how="option text")
    standalone = set(re.findall(rf"(?<![A-Za-z])\(?([{letters}])\)(?![A-Za-z])|(?<![A-Za-z])([{letters}])[.:](?!\w)", text))
    standalone = {a or b for a, b in standalone}
    if len(standalone) == 1:
        return Extraction(standalone.pop(), how="only option letter")
    if len(found) > 1:
        return Extraction(None, f"several options' texts appear ({', '.join(found)}) and no answer letter")
    return Extraction(None, "no option letter found" if not standalone else
                      f"several option letters ({', '.join(sorted(standalone))}) and no 'the answer is'")


def _choice(text: str, choices: list[str]) -> Extraction:
    words = [normalise(c) for c in choices]
    if not words:
        return Extraction(None, "the document has no options to choose from")
    alt = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    phrase = list(re.finditer(_ANSWER_IS + rf"\(?({alt})\b", text, re.IGNORECASE))
    if phrase:
        return Extraction(normalise(phrase[-1].group(1)), how="answer phrase")
    first = re.match(rf"\W*({alt})\b", text, re.IGNORECASE)
    if first:
        return Extraction(normalise(first.group(1)), how="first word")
    present = {normalise(m) for m in re.findall(rf"\b({alt})\b", text, re.IGNORECASE)}
    if len(present) == 1:
        return Extraction(present.pop(), how="only option word")
    if present:
        return Extraction(None, f"several options ({', '.join(sorted(present))}) and no 'the answer is'")
    return Extraction(None, f"none of {', '.join(words)} in the generation")
