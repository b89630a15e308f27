"""A scripted backend answering generate_until (and, optionally, carrying a chat template)."""

from __future__ import annotations

from harness.contract import ModelInfo

CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")


class FakeGen:
    """``answer(prompt) -> str``; records every request; a Jinja chat template when ``chat`` is set."""

    def __init__(self, answer, chat: str | None = None):
        self.answer, self.chat_template, self.requests = answer, chat, []
        self.info = ModelInfo("fake", "fake", "causal", "float32", "cpu", 0)
        self.batch_size, self.device = 1, "cpu"

    def supports(self, kind):
        return kind == "generate_until"

    def apply_chat_template(self, messages, add_generation_prompt=True):
        import jinja2

        return jinja2.Template(self.chat_template).render(messages=messages, add_generation_prompt=add_generation_prompt)

    def generate_until(self, requests, progress=None):
        self.requests.extend(requests)
        return [self.answer(r.args[0]) for r in requests]
