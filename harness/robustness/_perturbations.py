"""The perturbations: small, deterministic, meaning-preserving text edits, applied per item, compared paired.

The same seven kinds giskard 2's text-perturbation detector applies, written here so the audit needs no
giskard: case (upper, lower, title), keyboard typos, punctuation removal, numbers to English words,
accent removal. Each is a function of the text and a seed alone (the random ones draw from a generator
seeded by both), so an item is perturbed the same way whatever batch, order or process it comes in.
The recorded names are giskard's, so audits written before and after read alike. When giskard is
installed its scan applies these same functions (``_giskard.transformations``).
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from harness.errors import MedtuneError

TYPO_RATE = 0.05  # typos per letter (giskard's rate)
TYPO_MIN_LENGTH = 10  # shorter texts get no typos (giskard's floor)
TYPO_KINDS = (("insert", 0.2), ("delete", 0.2), ("replace", 0.5), ("swap", 0.1))  # giskard's mix
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")  # QWERTY letter rows, each offset half a key right


def _neighbours() -> dict[str, str]:
    """Letter -> the letters touching it on a staggered QWERTY keyboard (left, right, two above, two below)."""
    out = {}
    for r, row in enumerate(KEYBOARD):
        for c, key in enumerate(row):
            near = [row[c - 1] if c else "", row[c + 1:c + 2]]
            if r:
                near += [KEYBOARD[r - 1][c:c + 2]]
            if r + 1 < len(KEYBOARD):
                near += [KEYBOARD[r + 1][max(c - 1, 0):c + 1]]
            out[key] = "".join(near)
    return out


NEIGHBOURS = _neighbours()


def _rng(seed: int, text: str) -> random.Random:
    """A generator for one text: same (seed, text), same draws, on any Python 3.11+."""
    return random.Random(hashlib.sha256(f"{seed}\0{text}".encode()).digest())


def _typo_key(char: str, rng: random.Random) -> str:
    keys = NEIGHBOURS.get(char.lower())
    if not keys:
        return ""
    key = rng.choice(keys)
    return key.upper() if char.isupper() else key


def add_typos(text: str, rng: random.Random) -> str:
    """Each letter, with probability ``TYPO_RATE``: a neighbouring key inserted before it, the letter
    deleted, replaced by a neighbouring key, or swapped with the next letter. Digits are left alone
    (giskard's typos reach them too, but '120/80' -> '10/80' is not a meaning-preserving edit)."""
    if len(text) < TYPO_MIN_LENGTH:
        return text
    kinds, weights = zip(*TYPO_KINDS)
    chars = list(text)
    picks = [(i, rng.choices(kinds, weights)[0]) for i, c in enumerate(chars)
             if c.isalpha() and rng.random() < TYPO_RATE]
    for i, kind in reversed(picks):  # right to left: earlier positions stay valid
        if kind == "insert":
            chars.insert(i, _typo_key(chars[i], rng))
        elif kind == "delete":
            del chars[i]
        elif kind == "replace":
            chars[i] = _typo_key(chars[i], rng) or chars[i]
        elif i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


PUNCTUATION = "!?.,;:¡¿‽…" "'\"‘’‚‛“”„‟′″`´" "-‐‑‒–—―/" "§¶†‡"  # sentence marks, quotes, dashes, marks
_P = re.escape(PUNCTUATION)
# kept: URLs and numbers (2.5, 1,000, 120/80, 10:30); between word characters: a space; elsewhere: removed
_PUNCT = re.compile(rf"(?P<keep>(?:https?://|www\.)\S*[\w/]|\d+(?:[.,/:]\d+)+)"
                    rf"|(?P<between>(?<=\w)[{_P}]+(?=\w))|[{_P}]+")


def _punct(match: re.Match) -> str:
    return match.group("keep") or (" " if match.group("between") else "")


def remove_punctuation(text: str, rng: random.Random | None = None) -> str:
    """Punctuation out; between two word characters it becomes a space ('20-year-old' -> '20 year old'),
    so words are not joined. URLs and numbers keep theirs (giskard keeps URLs; '2.5 mg' must not become '25 mg')."""
    return _PUNCT.sub(_punct, text)


def remove_accents(text: str, rng: random.Random | None = None) -> str:
    """Combining marks dropped ('Sjögren' -> 'Sjogren'); other characters as they were."""
    decomposed = unicodedata.normalize("NFD", text)
    if not any(unicodedata.category(c) == "Mn" for c in decomposed):
        return text
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "- - twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", " thousand", " million", " billion", " trillion")


def _below_hundred(n: int) -> str:
    return _ONES[n] if n < 20 else _TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else "")


def number_words(n: int) -> str | None:
    """English words for 0 <= n < 10**15, British style as num2words writes them
    (101 -> 'one hundred and one', 2024 -> 'two thousand and twenty-four'); None above."""
    if not 0 <= n < 1000 ** len(_SCALES):
        return None
    if n == 0:
        return "zero"
    groups = []
    for scale in range(len(_SCALES)):
        n, group = divmod(n, 1000)
        if group:
            hundreds, rest = divmod(group, 100)
            words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
            if rest and (hundreds or (scale == 0 and n)):  # 'one hundred and one', 'one thousand and one'
                words.append("and")
            if rest:
                words.append(_below_hundred(rest))
            groups.append(" ".join(words) + _SCALES[scale])
    return " ".join(reversed(groups))


# a whole number (1,000 grouping allowed) with an optional decimal part; not inside a word (B12, 5mg),
# a fraction (1/2), a version or date with more dots (3.5.1)
_NUMBER = re.compile(r"(?<![\w./])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w/]|[.,]\d)")


def _number(match: re.Match) -> str:
    digits = match.group(1).replace(",", "")
    whole = number_words(int(digits)) if len(digits) <= 15 else None  # (int() refuses 4,300+ digits)
    if whole is None:
        return match.group(0)
    decimals = match.group(2)
    return whole + (" point " + " ".join(_ONES[int(d)] for d in decimals) if decimals else "")


def numbers_to_words(text: str, rng: random.Random | None = None) -> str:
    """Numbers written as English words: '45-year-old' -> 'forty-five-year-old', '2.5' -> 'two point five'."""
    return _NUMBER.sub(_number, text)


@dataclass(frozen=True)
class Perturbation:
    key: str  # the CLI name
    name: str  # the recorded name (giskard's)
    edit: Callable[[str, random.Random], str]

    def __call__(self, text: str, seed: int = 0) -> str:
        """The perturbed text; a function of (text, seed) alone."""
        return self.edit(text, _rng(seed, text))


def _upper(text, rng):
    return text.upper()


def _lower(text, rng):
    return text.lower()


def _title(text, rng):
    return text.title()


PERTURBATIONS = {p.key: p for p in (
    Perturbation("uppercase", "Transform to uppercase", _upper),
    Perturbation("lowercase", "Transform to lowercase", _lower),
    Perturbation("titlecase", "Transform to title case", _title),
    Perturbation("typos", "Add typos", add_typos),
    Perturbation("punctuation", "Punctuation Removal", remove_punctuation),
    Perturbation("numbers", "Transform numbers to words", numbers_to_words),
    Perturbation("accents", "Accent Removal", remove_accents),
)}


def check_names(names: list[str] | None) -> list[str]:
    names = names or list(PERTURBATIONS)
    unknown = [n for n in names if n not in PERTURBATIONS]
    if unknown:
        raise MedtuneError(f"--perturbation {unknown[0]}: unknown; choose from {', '.join(PERTURBATIONS)}")
    return names


def selected(names: list[str] | None = None) -> list[Perturbation]:
    """The perturbations named on the command line (default: all), in the order given."""
    return [PERTURBATIONS[n] for n in check_names(names)]


@dataclass
class PerturbationResult:
    perturbation: str  # the recorded name, e.g. "Add typos"
    metric: str
    clean_value: float | None
    perturbed_value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    flip_rate: float | None
    n: int  # items the perturbation changed
    p_value: float | None
    flagged: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compare(name: str, metric: str, adapter, clean: list, perturbed: list, threshold: float,
            seed: int = 0) -> PerturbationResult:
    """Perturbed vs clean on the same (changed) items; flagged as giskard does: flip rate >= threshold."""
    if not clean:
        return PerturbationResult(name, metric, None, None, None, None, None, None, 0, None, False)
    cmp = adapter.paired(clean, perturbed, seed=seed)
    flips = float(np.mean([adapter.flipped(a, b) for a, b in zip(clean, perturbed)]))
    return PerturbationResult(name, metric, adapter.summary(clean), adapter.summary(perturbed), cmp.delta, cmp.ci_low,
                              cmp.ci_high, flips, len(clean), cmp.p_value, flips >= threshold)
