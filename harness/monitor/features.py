"""Per-record features of deployed traffic, computed once at ingest and stored beside the record.

All of them are cheap (a few microseconds a record, pure Python): what a window's profile and the drift
tests aggregate. None needs a model; embeddings are computed later, on a sample (``embed.py``).

- ``prompt_chars`` / ``response_chars``, ``prompt_words`` / ``response_words``: lengths (characters;
  whitespace-separated words).
- ``language``: the prompt's language by a deterministic heuristic (``language()``): the Unicode script
  of its letters, and for Latin script a vote of function words (stop words) of eight languages. Cheap
  enough for every record (a few µs) where a statistical detector (langdetect, ~1 ms a text) is not;
  short or mixed texts come out as ``und`` (undetermined).
- ``refusal``: the response contains one of ``REFUSAL_PHRASES`` (case-insensitive, in its first 400
  characters): the assistant declined. Safety hedges ("consult your doctor") are not refusals.
- ``pii_kinds`` / ``pii_count``: what the leakage audit's PII detector (``harness.leakage.pii.scan``:
  MRN, phone, date of birth, SSN patterns) finds in the response.
- ``response_key``: a 64-bit hash of the normalised response (lower case, letters and digits only, single
  spaces), and ``first_token``: its first word. A window's commonest key and first word, as shares of
  the window, are its answer-collapse signals (one canned answer, or every answer starting alike).
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata

from harness.leakage import pii

#: phrases that mark a refusal (matched case-insensitively in the first 400 characters of a response;
#: straight or curly apostrophes). Documented in the README; extend with ``REFUSAL_PHRASES.append``.
REFUSAL_PHRASES = [
    "i can't help with", "i cannot help with", "i can't assist with", "i cannot assist with",
    "i can't provide", "i cannot provide", "i'm not able to provide", "i am not able to provide",
    "i'm unable to", "i am unable to", "i won't be able to", "i will not be able to",
    "i can't answer", "i cannot answer", "i must decline", "i have to decline", "i'm not able to answer",
    "i am not able to answer", "i can't give medical advice", "i cannot give medical advice",
    "as an ai language model", "as an ai, i cannot", "i'm sorry, but i can't", "i'm sorry, but i cannot",
    "sorry, i can't", "sorry, i cannot", "i'm not allowed to", "i am not allowed to",
    "i can't discuss", "i cannot discuss", "against my guidelines",
]
_REFUSAL = re.compile("|".join(re.escape(p) for p in REFUSAL_PHRASES))
#: ASCII and common typographic punctuation, turned into spaces by ``normalise`` (str.translate: ~5x faster
#: than a Unicode regex, and ingest runs it on every record)
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "“”‘’«»…–—¿¡·•"})
#: every pattern of the PII detector needs two adjacent digits: a response without them is not scanned
_DIGITS = re.compile(r"\d\d")
_PREFILTER = set(pii.PATTERNS) <= {"mrn", "phone", "dob", "ssn"}

#: function words that identify a Latin-script language (a text votes for the language whose words it
#: holds most of; at least two hits, else ``und``)
STOPWORDS = {
    "en": "the and of to is in that what with for are this how my can have does should which was from be it "
          "on or not a an as at by his her he she you i do has had will would after about all also during except "
          "following most known caused patient".split(),
    "es": "el la de que y en los las es por con para una un del se no su como qué cuál mi tengo puede "
          "debo síntomas paciente".split(),
    "fr": "le la les de des et est que une un en du pour dans qui pas sur au avec mon ma quel quelle "
          "puis patient".split(),
    "de": "der die das und ist nicht ein eine zu den von mit sich des auf für ich mein kann wie was "
          "bei patient".split(),
    "pt": "o a os as de que e do da em um uma para com não é se por mais meu minha posso qual "
          "paciente".split(),
    "it": "il lo la le di che e è un una per non con del della sono mio mia posso quale come "
          "paziente".split(),
    "nl": "de het een en van is dat niet op te zijn met voor ik mijn kan wat hoe bij patiënt".split(),
    "id": "yang dan di ini itu dengan untuk tidak dari ada saya apa bisa pasien".split(),
}
_STOP_INDEX: dict[str, tuple[str, ...]] = {}
for _lang, _words in STOPWORDS.items():
    for _w in set(_words):
        _STOP_INDEX[_w] = _STOP_INDEX.get(_w, ()) + (_lang,)
#: scripts that name a language (or a group) by themselves: (first, last code point, label)
_SCRIPTS = [
    (0x0400, 0x04FF, "ru"), (0x0370, 0x03FF, "el"), (0x0590, 0x05FF, "he"), (0x0600, 0x06FF, "ar"),
    (0x0900, 0x097F, "hi"), (0x0E00, 0x0E7F, "th"), (0x3040, 0x30FF, "ja"), (0xAC00, 0xD7AF, "ko"),
    (0x1100, 0x11FF, "ko"), (0x4E00, 0x9FFF, "zh"),
]


def language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language by script and function words, or ``und``."""
    head = text[:240]
    if not head.isascii():
        counts: dict[str, int] = {}
        letters = 0
        for ch in head:
            if ch.isalpha():
                letters += 1
                cp = ord(ch)
                if cp >= 0x0370:
                    for lo, hi, label in _SCRIPTS:
                        if lo <= cp <= hi:
                            counts[label] = counts.get(label, 0) + 1
                            break
        if letters and counts:
            if counts.get("ja") and counts.get("zh"):  # kana beside kanji: Japanese
                counts["ja"] += counts.pop("zh")
            label, hits = max(counts.items(), key=lambda kv: kv[1])
            if hits * 2 >= letters:
                return label
    words = head.lower().translate(_PUNCT).split()
    if not words:
        return "und"
    votes: dict[str, int] = {}
    for w in set(words):
        for lang in _STOP_INDEX.get(w, ()):
            votes[lang] = votes.get(lang, 0) + 1
    if not votes:
        return "und"
    ranked = sorted(votes.items(), key=lambda kv: -kv[1])
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    # two function words decide; one does in a short text (an exam stem) when no other language has one
    if top >= 2 and top > second or top == 1 and second == 0 and len(words) <= 12:
        return best
    return "und"


def is_refusal(response: str) -> bool:
    head = response[:400].lower()
    if "’" in head:
        head = head.replace("’", "'")
    return _REFUSAL.search(head) is not None


def normalise(text: str) -> str:
    """Lower case, punctuation (ASCII and typographic) out, single spaces (accents kept: é stays é)."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.lower().translate(_PUNCT).split())


def key64(text: str) -> int:
    """A signed 64-bit hash of ``text`` (blake2b), as DuckDB's BIGINT holds it."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little", signed=True)


def text_hash(text: str) -> str:
    """A 128-bit hex hash of a text (the embedding cache key)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def features(prompt: str, response: str) -> dict:
    """Every per-record feature (see the module docstring)."""
    norm = normalise(response)
    found = pii.scan(response) if response and (not _PREFILTER or _DIGITS.search(response)) else ()
    return {
        "prompt_chars": len(prompt), "response_chars": len(response),
        "prompt_words": len(prompt.split()), "response_words": norm.count(" ") + 1 if norm else 0,
        "language": language(prompt), "refusal": is_refusal(response),
        "pii_kinds": ",".join(sorted({f["kind"] for f in found})) if found else "", "pii_count": len(found),
        "response_key": key64(norm), "first_token": norm.split(" ", 1)[0][:40] if norm else "",
    }
