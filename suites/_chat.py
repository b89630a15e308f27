"""Prompts through the model's chat template, as lm-eval's ``--apply_chat_template``.

A suite asks for it with the option ``chat_template: true`` (``medtune eval --chat-template`` sets
it on every selected suite; a generative suite may set it in its YAML). The messages are built
exactly as lm-eval 0.4's ``ConfigurableTask.fewshot_context`` builds them:

- a system message from ``system_prompt`` and the suite's rendered ``description_template``
  (joined by the few-shot delimiter, as lm-eval's ``maybe_delimit``), when either is set;
- each few-shot example as a user turn (its question) and an assistant turn (its answer), or, with
  ``fewshot_as_multiturn: false``, all of them collapsed into one user message;
- the document's question as the last user turn;

rendered by the backend's ``apply_chat_template(messages, add_generation_prompt=True)``. A
log-likelihood option is then scored with no target delimiter (lm-eval sets it to ""), so the
option's tokens directly follow the assistant header.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from harness.errors import MedtuneError

#: options every suite accepts, declared or not (defaults: off, none, multi-turn)
CHAT_OPTIONS = ("chat_template", "system_prompt", "fewshot_as_multiturn")


def wants_chat(suite) -> bool:
    value = suite.options.get("chat_template", False)
    if not isinstance(value, bool):
        raise MedtuneError(f"suite {suite.name}: option 'chat_template' is {value!r}, expected true or false")
    return value


def template_hash(template: str | None) -> str | None:
    return hashlib.sha256(template.encode()).hexdigest()[:12] if template else None


@dataclass
class ChatFormat:
    """The backend's chat template bound to a suite."""

    apply: Callable[..., str]  # apply(messages, add_generation_prompt=True) -> text
    template_hash: str
    target_delimiter: str  # the suite's own delimiter (few-shot answers collapsed into one user turn)

    def messages(self, suite, doc: dict) -> list[dict]:
        spec = suite.spec
        system = _maybe_delimit(suite.options.get("system_prompt"),
                                suite.render(spec.description_template, doc, "description_template"),
                                spec.fewshot_delimiter)
        turns: list[tuple[str, str, str]] = []  # (role, content, delimiter when collapsed to text)
        for ex in suite.fewshot_examples(doc) if suite.num_fewshot else []:
            turns.append(("user", suite.render(spec.doc_to_text, ex, "doc_to_text"), self.target_delimiter))
            turns.append(("assistant", suite.type.target_text(ex), spec.fewshot_delimiter))
        turns.append(("user", suite.render(spec.doc_to_text, doc, "doc_to_text"), ""))
        if suite.options.get("fewshot_as_multiturn", True):
            msgs = [{"role": r, "content": c} for r, c, _ in turns]
        else:  # lm-eval's multiturn_to_singleturn
            msgs = [{"role": "user", "content": "".join(c + (d if i < len(turns) - 1 else "")
                                                        for i, (_, c, d) in enumerate(turns))}]
        return ([{"role": "system", "content": system}] if system else []) + msgs

    def prompt(self, suite, doc: dict) -> str:
        return self.apply(self.messages(suite, doc), add_generation_prompt=True)


def _maybe_delimit(prefix: str | None, suffix: str | None, delimiter: str) -> str:
    if not prefix:
        return suffix or ""
    if not suffix:
        return prefix
    return prefix + suffix if prefix[-1].isspace() or suffix[0].isspace() else prefix + delimiter + suffix


def bind(suite, lm) -> None:
    """Give ``suite`` the backend's chat template when its options ask for one (else plain prompts).

    A tokenizer without a chat template is a one-line error, before anything is scored."""
    if not wants_chat(suite):
        suite.chat = None
        return
    if suite.chat is not None:
        return
    template = getattr(lm, "chat_template", None)
    apply = getattr(lm, "apply_chat_template", None)
    if not template or apply is None:
        raise MedtuneError(f"suite {suite.name}: chat_template is on, but model {lm.info.name} has no chat "
                           "template (its tokenizer defines none): leave out --chat-template / set "
                           "chat_template: false, or score a model with one")
    suite.chat = ChatFormat(apply, template_hash(template), suite.spec.target_delimiter)
    # lm-eval scores an option right after the assistant header: no target delimiter
    suite.spec = suite.spec.model_copy(update={"target_delimiter": ""})
