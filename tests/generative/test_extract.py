import pytest

from harness.errors import MedtuneError
from suites._extract import Extractor

OPTS = ["Aspirin", "Heparin", "Warfarin", "Clopidogrel"]


@pytest.mark.parametrize("text,want,how", [
    ("Chest pain... so the answer is (C).", "C", "answer phrase"),
    ("Answer: b", "B", "answer phrase"),
    ("A is wrong, B is wrong. The correct answer is D", "D", "answer phrase"),
    ("Reasoning about options.\n(B)", "B", "last line"),
    ("I would give heparin here", "B", "option text"),
    ("Options A. and C. are out; only C. remains", None, ""),
])
def test_letter(text, want, how):
    got = Extractor("letter")(text, OPTS)
    assert got.answer == want
    if want:
        assert got.how == how and got.failure is None
    else:
        assert got.failure


def test_letter_failures_say_why():
    assert Extractor("letter")("", OPTS).failure == "empty generation"
    assert "no option letter" in Extractor("letter")("no idea at all", OPTS).failure
    assert "several options' texts" in Extractor("letter")("aspirin or heparin", OPTS).failure


def test_choice_yes_no_maybe():
    ex = Extractor("choice")
    yn = ["yes", "no", "maybe"]
    assert ex(" Yes, because...", yn).answer == "yes"
    assert ex("It depends. The answer is maybe.", yn).answer == "maybe"
    assert ex("Well: no.", yn).answer == "no"
    assert ex("I cannot tell", yn).failure.startswith("none of")
    assert "several" in ex("I cannot tell: yes or no", yn).failure


def test_regex_last_match_group():
    ex = Extractor(r"regex:ANSWER:\s*(\w+)")
    assert ex("ANSWER: x ... ANSWER: Mitral", None).answer == "mitral"
    assert "no match" in ex("nothing", None).failure


def test_bad_rules_are_one_line_errors():
    with pytest.raises(MedtuneError, match="does not compile") as e:
        Extractor("regex:(unclosed", "suite s: option 'extract'")
    assert "\n" not in str(e.value)
    with pytest.raises(MedtuneError, match="not an extraction rule"):
        Extractor("letters")
