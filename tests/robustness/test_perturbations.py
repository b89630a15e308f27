"""medtune's own perturbations (no giskard): each pinned on a fixed sentence, deterministic per item and seed."""

from __future__ import annotations

import re

import pytest

from harness.errors import MedtuneError
from harness.robustness._adapters import QAAdapter
from harness.robustness._perturbations import NEIGHBOURS, PERTURBATIONS, check_names, number_words, selected

SENTENCE = "A 45-year-old man's BP is 120/80; he took 2.5 mg of Café-brand B12 (Sjögren's?)."
CLINIC = "The patient with severe anemia was seen in clinic twice, stable and well."


def perturb(key: str, text: str = SENTENCE, seed: int = 0) -> str:
    out = PERTURBATIONS[key](text, seed)
    assert out != text and PERTURBATIONS[key](text, seed) == out  # it edits, and the same way every time
    return out


def test_names_on_the_command_line_and_recorded():
    assert list(PERTURBATIONS) == ["uppercase", "lowercase", "titlecase", "typos", "punctuation", "numbers", "accents"]
    assert [p.name for p in selected(["typos", "uppercase"])] == ["Add typos", "Transform to uppercase"]
    assert [p.key for p in selected(None)] == list(PERTURBATIONS)
    with pytest.raises(MedtuneError, match="--perturbation shouting: unknown; choose from uppercase"):
        check_names(["uppercase", "shouting"])


def test_case_changes():
    assert perturb("uppercase") == "A 45-YEAR-OLD MAN'S BP IS 120/80; HE TOOK 2.5 MG OF CAFÉ-BRAND B12 (SJÖGREN'S?)."
    assert perturb("lowercase") == "a 45-year-old man's bp is 120/80; he took 2.5 mg of café-brand b12 (sjögren's?)."
    assert perturb("titlecase") == "A 45-Year-Old Man'S Bp Is 120/80; He Took 2.5 Mg Of Café-Brand B12 (Sjögren'S?)."


def test_punctuation_removed_words_kept_apart_numbers_and_urls_intact():
    assert perturb("punctuation") == "A 45 year old man s BP is 120/80 he took 2.5 mg of Café brand B12 (Sjögren s)"
    assert perturb("punctuation", "Dose: 1,000 IU at 10:30, see https://x.org/a-b.") == \
        "Dose 1,000 IU at 10:30 see https://x.org/a-b"
    assert PERTURBATIONS["punctuation"]("no marks here", 0) == "no marks here"


def test_numbers_to_english_words():
    assert perturb("numbers") == \
        "A forty-five-year-old man's BP is 120/80; he took two point five mg of Café-brand B12 (Sjögren's?)."
    assert perturb("numbers", "1,000 IU over 3 days; 12mg, 1/2 tab, v3.5.1") == \
        "one thousand IU over three days; 12mg, 1/2 tab, v3.5.1"  # 12mg, fractions and versions untouched
    assert [number_words(n) for n in (0, 13, 21, 101, 120, 1001, 1100, 2024, 101000, 1000001)] == [
        "zero", "thirteen", "twenty-one", "one hundred and one", "one hundred and twenty", "one thousand and one",
        "one thousand one hundred", "two thousand and twenty-four", "one hundred and one thousand",
        "one million and one"]
    assert number_words(10 ** 15) is None and PERTURBATIONS["numbers"]("10000000000000000 cells", 0) == \
        "10000000000000000 cells"


def test_accents_removed_other_characters_kept():
    assert perturb("accents") == "A 45-year-old man's BP is 120/80; he took 2.5 mg of Cafe-brand B12 (Sjogren's?)."
    assert PERTURBATIONS["accents"]("Ørsted naïve", 0) == "Ørsted naive"  # Ø has no accent to drop


def test_typos_keyboard_neighbours_on_letters_only_seeded():
    out = perturb("typos", CLINIC)
    assert out == "Thr patient with zevere anemia was seen n clinic twice, dstable and well."
    assert perturb("typos", CLINIC, seed=1) == \
        "The patien with severe anemia was seen ni clinic twice, stable ane well."  # another seed, other typos
    # replaced and inserted keys touch the original one: 'e' -> 'r', 's' -> 'z', 'd' before 's' above
    assert "r" in NEIGHBOURS["e"] and "z" in NEIGHBOURS["s"] and "p" not in NEIGHBOURS["a"]
    assert perturb("typos") == "A 45-year-old kman's VP id 120/80; he took 2.5 mg of Cqafé-brand B12 (Sjögren's?)."
    assert PERTURBATIONS["typos"]("short one", 0) == "short one"  # under 10 characters: left alone
    changed = 0
    for seed in range(30):  # digits are never touched: doses and ages keep their values
        typo = PERTURBATIONS["typos"](SENTENCE, seed)
        assert re.findall(r"[\d./]+\d", typo) == ["45", "120/80", "2.5", "12"]
        changed += typo != SENTENCE
    assert changed >= 20  # ~55 letters at 5% each: most seeds make at least one typo


def test_per_item_determinism_whatever_the_batch_order():
    docs = [{"id": i, "question": f"{CLINIC} Case {i}: what now?", "choices": ["a", "b"], "gold": 0} for i in range(12)]
    typos = PERTURBATIONS["typos"]
    forward = QAAdapter(docs).perturb(lambda t: typos(t, 7))
    backward = QAAdapter(docs[::-1]).perturb(lambda t: typos(t, 7))
    by_id = lambda changed: {d["id"]: d["question"] for d in changed.values()}
    assert len(forward) > 6 and by_id(forward) == by_id(backward)  # keyed by the item, not its position
    assert by_id(QAAdapter(docs[:1]).perturb(lambda t: typos(t, 7))).items() <= by_id(forward).items()
