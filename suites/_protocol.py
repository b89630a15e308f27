"""A run's scoring protocol: everything about HOW a suite was put to the model that changes its score
without changing the model or the data.

``protocol(suite)`` is stored in each run's settings JSON under ``"protocol"``; ``protocol_id`` is
its short hash and ``protocol_label`` a short human label (``cloze 0-shot``, ``generative/letter
chat 5-shot``). Two runs are comparable only when their protocols are equal: ``differences(a, b)``
names what differs, and the gate and the forgetting comparison refuse to pair such runs.

Fields: ``scoring`` (cloze | letter | generative | the suite type for others), ``chat_template``
(hash of the model's template, None without one), ``system_prompt``, ``num_fewshot``,
``fewshot_sampler`` and ``fewshot_as_multiturn``, ``prompt_template`` (hash of the prompt
templates and delimiters), ``extraction`` (generative: the rule) and ``generation`` (budget,
stop sequences, sampler).
"""

from __future__ import annotations

import hashlib
import json

FIELDS = ("scoring", "chat_template", "system_prompt", "num_fewshot", "fewshot_sampler", "fewshot_as_multiturn",
          "prompt_template", "extraction", "generation")


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def scoring_kind(suite, docs: list[dict] | None = None) -> str:
    """cloze (option texts scored), letter (``A``/``B``... scored: ``choice_style: letter``, or a suite whose
    options are themselves letters), or the suite type."""
    if suite.spec.type == "multiple_choice":
        if suite.options.get("choice_style", "text") == "letter":
            return "letter"
        fixed = suite.spec.docs.fixed_choices if suite.spec.docs is not None else None
        options = [fixed] if fixed else [d.get("choices") for d in docs or [] if "contexts" not in d]
        if options and all(isinstance(o, list) and o and all(_is_letter(c) for c in o) for o in options):
            return "letter"
        return "cloze"
    return suite.spec.type


def _is_letter(option) -> bool:
    text = str(option).strip().strip("().:")
    return len(text) == 1 and text.isalpha() and text.isupper()


def protocol(suite, docs: list[dict] | None = None) -> dict:
    """The suite's protocol as it will be (or was) scored; the chat template's hash once it is bound. ``docs``:
    the documents scored (a suite whose options are letters is letter-scored)."""
    spec, opts = suite.spec, suite.options
    chat = bool(opts.get("chat_template", False))
    bound = getattr(suite, "chat", None)
    delimiter = bound.target_delimiter if bound is not None else spec.target_delimiter
    type_protocol = getattr(suite.type, "protocol", None)
    extra = type_protocol() if type_protocol else {}
    templates = {"doc_to_text": spec.doc_to_text, "description": spec.description_template,
                 "target_delimiter": delimiter, "fewshot_delimiter": spec.fewshot_delimiter,
                 **extra.pop("templates", {})}
    shots = int(suite.num_fewshot or 0)
    return {
        "scoring": scoring_kind(suite, docs),
        "chat_template": (bound.template_hash if bound is not None else "unbound") if chat else None,
        "system_prompt": opts.get("system_prompt") or None,
        "num_fewshot": shots,
        "fewshot_sampler": (f"{spec.fewshot_sampler}" + (f":{suite.seed}" if spec.fewshot_sampler == "random" else ""))
        if shots else None,
        "fewshot_as_multiturn": bool(opts.get("fewshot_as_multiturn", True)) if chat and shots else None,
        "prompt_template": _sha(templates),
        "extraction": extra.get("extraction"),
        "generation": extra.get("generation"),
    }


def protocol_id(proto: dict | None) -> str | None:
    return _sha({k: proto.get(k) for k in FIELDS}) if proto else None


def protocol_label(proto: dict | None) -> str:
    """Short label: ``cloze 0-shot``, ``letter chat 5-shot``, ``generative/letter chat+sys 0-shot``."""
    if not proto:
        return ""
    kind = proto.get("scoring") or "?"
    if kind == "generative" and proto.get("extraction"):
        kind += "/" + str(proto["extraction"]).split(":", 1)[0]
    chat = " chat" + ("+sys" if proto.get("system_prompt") else "") if proto.get("chat_template") else ""
    if not chat and proto.get("system_prompt"):
        chat = " +sys"
    return f"{kind}{chat} {proto.get('num_fewshot', 0)}-shot"


def differences(a: dict | None, b: dict | None) -> list[str]:
    """What differs between two recorded protocols (``field: a vs b``); [] when equal or either is unknown
    (a run from before protocols were recorded)."""
    if not a or not b:
        return []
    out = []
    for key in FIELDS:
        if a.get(key) != b.get(key):
            out.append(f"{key}: {_short(a.get(key))} vs {_short(b.get(key))}")
    return out


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def from_settings(settings) -> dict | None:
    """The protocol recorded in a run's settings (a dict or its JSON text), else None."""
    if isinstance(settings, str):
        try:
            settings = json.loads(settings)
        except ValueError:
            return None
    return settings.get("protocol") if isinstance(settings, dict) else None


def check_pairable(store, suite: str, run_a: str, run_b: str, names: tuple[str, str] = ("candidate", "baseline")) -> None:
    """Refuse to compare two runs scored under different protocols (a one-line error naming what differs)."""
    from harness.errors import MedtuneError
    from harness.store.runs import run_protocols

    protos = run_protocols(store, [run_a, run_b])
    diff = differences(protos.get(run_a), protos.get(run_b))
    if diff:
        raise MedtuneError(f"suite {suite}: the {names[0]} run {run_a} and the {names[1]} run {run_b} were scored under "
                           f"different protocols ({'; '.join(diff)}): their delta would measure the protocol, not the "
                           "model; score both the same way (same suite, --chat-template, options and few-shot)")


def recorded(suite, docs: list[dict] | None = None) -> dict:
    """The protocol as stored in a run's settings: its fields plus ``id`` and ``label``."""
    proto = protocol(suite, docs)
    return {**proto, "id": protocol_id(proto), "label": protocol_label(proto)}
