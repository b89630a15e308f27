"""Model judges for rubric grading (issue 25): one small interface, three kinds, a versioned prompt.

``make_judge(spec)`` turns what ``--judge`` names into a ``Judge``:

- ``mock`` (or ``mock:<seed>``): deterministic met / not met from a SHA-256 of the criterion and the
  response, like ``--backend mock``; for trying the flow and for tests. Its numbers mean nothing.
- ``hf:<model>``: any causal model medtune loads (a built-in such as ``smollm2-135m``, an HF folder,
  a hub id), answering greedily through its chat template.
- ``http://host:port/v1`` (or https): an OpenAI-compatible chat-completions endpoint (vLLM,
  llama.cpp, a hosted API); the model from ``--judge-model``, the API key from the environment
  variable ``--judge-key-env`` names (read when a call is made, never stored or put in the judge id).

Every judge sees the same prompt (``PROMPT_VERSION``): the conversation, the response and one
criterion, and must reply with only ``{"met": true|false, "reason": "..."}`` (a ```json fence
around it is tolerated, nothing else). A reply that does not parse is asked again
(``retries`` times; a greedy local model once only, as it would repeat itself) and then recorded as
``judge_failed``: never guessed.

``grade(judge, items, store=)`` grades many (conversation, response, criterion) items: cached
verdicts (table ``judge_cache``) are reused, the others asked with at most ``concurrency`` calls
in flight (threads), and each new verdict is written to the cache in small transactions as it
arrives, so a killed run resumes without asking again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from harness.errors import MedtuneError
from harness.judge.base import RUNTIME, Judge, JudgeUnavailable, configure, judge_id  # noqa: F401 (the interface)

PROMPT_VERSION = "rubric-judge-v1"

SYSTEM = ("You are a careful physician grading an AI assistant's reply against ONE rubric criterion. "
          "Decide only whether the criterion is met by the reply. Some criteria describe undesirable behaviour "
          "(they carry negative points): such a criterion is met when the reply DOES show that behaviour. "
          'Answer with only a JSON object such as {"met": false, "reason": "The reply does not mention dosing."}.')

USER = """<conversation>
{conversation}
</conversation>

<reply>
{response}
</reply>

<criterion points="{points}">
{criterion}
</criterion>

Is the criterion met by the reply? Answer with only a JSON object with two keys: "met" (true or false) and "reason" (one short sentence)."""

@dataclass(frozen=True)
class Item:
    """One criterion to grade on one response."""

    messages: tuple  # the conversation: ({"role", "content"}, ...)
    response: str
    criterion: str
    points: float

    @property
    def criterion_sha(self) -> str:
        return _sha([self.criterion, self.points])

    @property
    def response_sha(self) -> str:
        return _sha([list(self.messages), self.response])


@dataclass
class Verdict:
    met: bool | None  # None: judge_failed
    reason: str
    cached: bool = False
    attempts: int = 0
    raw: str | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.met is None

    def to_dict(self) -> dict:
        return {"met": self.met, "reason": self.reason, "judge_failed": self.failed}


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def transcript(messages) -> str:
    return "\n\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages)


def judge_messages(item: Item) -> list[dict]:
    """The versioned judge prompt (``PROMPT_VERSION``) as chat messages."""
    points = f"{item.points:+g}"
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER.format(conversation=transcript(item.messages), response=item.response,
                                                    criterion=item.criterion, points=points)}]


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def parse_reply(text) -> tuple[bool, str] | None:
    """``(met, reason)`` from a judge's reply, or None when it is not exactly the JSON object asked for."""
    if not isinstance(text, str):
        return None
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not (body.startswith("{") and body.endswith("}")):
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("met"), bool) or not isinstance(obj.get("reason", ""), str):
        return None
    return obj["met"], obj.get("reason", "").strip()


def make_judge(spec: str, model: str | None = None) -> Judge:
    """The judge ``--judge`` names (see the module doc)."""
    if not isinstance(spec, str) or not spec.strip():
        raise MedtuneError(f"--judge {spec!r}: expected mock, hf:<model> or http://host:port/v1")
    spec = spec.strip()
    from harness.judge import backends

    if spec == "mock" or spec.startswith("mock:"):
        return backends.MockJudge(spec)
    if spec.startswith("hf:"):
        return backends.HFJudge(spec[3:])
    if spec.startswith(("http://", "https://")):
        return backends.HTTPJudge(spec, model)
    raise MedtuneError(f"--judge {spec}: expected mock, hf:<model or built-in name> or an OpenAI-compatible "
                       "endpoint http://host:port/v1")


def grade(judge: Judge, items: list[Item], store=None, progress=None) -> list[Verdict]:
    """A verdict per item: the cache first, then the judge (malformed replies asked again, then judge_failed)."""
    from harness.store.judge import lookup

    verdicts: list[Verdict | None] = [None] * len(items)
    found = lookup(store, judge.id, PROMPT_VERSION, items) if store is not None else {}
    todo = []
    for i, item in enumerate(items):
        hit = found.get((item.criterion_sha, item.response_sha))
        if hit is not None:
            verdicts[i] = Verdict(hit[0], hit[1], cached=True)
        else:
            todo.append(i)
    # the same (criterion, response) twice in one batch is asked once
    unique: dict[tuple, list[int]] = {}
    for i in todo:
        unique.setdefault((items[i].criterion_sha, items[i].response_sha), []).append(i)
    pending = [idx[0] for idx in unique.values()]
    attempts = {i: 0 for i in pending}
    last: dict[int, str] = {}
    for _round in range(int(RUNTIME["retries"]) + 1 if judge.repeatable else 1):
        if not pending:
            break
        step = max(16, 4 * int(RUNTIME["concurrency"]))  # new verdicts reach the cache slice by slice
        for start in range(0, len(pending), step):
            part = pending[start:start + step]
            got = judge.complete([judge_messages(items[i]) for i in part])
            down = next((r for r in got if isinstance(r, JudgeUnavailable)), None)
            if down is not None:
                raise MedtuneError(f"judge {judge.id} is not reachable ({down}); start it or point --judge elsewhere")
            _settle(judge, items, part, got, attempts, unique, verdicts, last, store, progress)
        pending = [i for i in pending if verdicts[i] is None]
    for i in pending:
        v = Verdict(None, f"judge_failed after {attempts[i]} attempt(s): {last.get(i, '')[:200]}", attempts=attempts[i])
        for j in unique[(items[i].criterion_sha, items[i].response_sha)]:
            verdicts[j] = v
    return verdicts


def _settle(judge, items, part, replies, attempts, unique, verdicts, last, store, progress) -> None:
    """Parse one slice of replies: verdicts set (and cached), malformed ones left for the next round."""
    from harness.store.judge import save

    if any(isinstance(r, JudgeUnavailable) for r in replies):
        return  # the caller raises
    new = []
    for i, reply in zip(part, replies):
        attempts[i] += 1
        parsed = None if isinstance(reply, Exception) else parse_reply(judge.prefill + reply if judge.prefill else reply)
        if parsed is None:
            last[i] = f"{type(reply).__name__}: {reply}" if isinstance(reply, Exception) else repr(reply)
            continue
        v = Verdict(parsed[0], parsed[1], attempts=attempts[i], raw=reply)
        for j in unique[(items[i].criterion_sha, items[i].response_sha)]:
            verdicts[j] = v
        new.append((items[i], v))
    if store is not None and new:
        save(store, judge.id, PROMPT_VERSION, new)
    if progress and new:
        progress(len(new))
