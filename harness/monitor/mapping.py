"""Where each field of a traffic record comes from: the default OpenAI-style chat layout, or a mapping.

Default layout (JSONL or Parquet, one record a line/row)::

    {"timestamp": "2026-12-01T10:00:00Z", "model": "...",
     "messages": [{"role": "user", "content": "..."}],
     "response": {"role": "assistant", "content": "..."},
     "feedback": 1, "id": "..."}                    # feedback and id optional

also accepted without a mapping: ``created``/``ts``/``time`` for the timestamp (ISO 8601, or Unix seconds or
milliseconds), ``response`` as a string, an OpenAI API response's ``choices[0].message.content``, a
conversation whose last message is the assistant's (the prompt is then the user message before it),
``prompt`` as a string, and message ``content`` given as a list of ``{"type": "text", "text": ...}`` parts.

Other layouts name their fields like a suite's ``docs:`` mapping (suites/_mapping.py): a dotted path into
nested objects (``request.input.text``; list items by index, ``turns.-1.text`` is the last one) or a Jinja
template over the record (``"{{ title }}: {{ body }}"``)::

    # --mapping traffic.yaml   (or --field prompt=request.question --field response=output.text)
    timestamp: logged_at
    prompt: request.question
    response: output.text
    feedback: rating.thumbs       # optional: a number, true/false, up/down, or {score: ...}
    model: deployment             # optional
    id: request_id                # optional: the record's identity (default: a hash of its content)

Every error names ``file:line`` (a Parquet file: ``file:row``) and the field.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.config import load_yaml, validate
from harness.errors import ConfigError, DataError

FIELDS = ("timestamp", "prompt", "response", "feedback", "model", "id")
_POSITIVE = {"up", "thumbs_up", "thumbsup", "+1", "positive", "good", "helpful", "correct", "yes", "like", "true",
             "pass", "accept", "accepted"}
_NEGATIVE = {"down", "thumbs_down", "thumbsdown", "-1", "negative", "bad", "unhelpful", "incorrect", "no", "dislike",
             "false", "fail", "reject", "rejected"}


class TrafficMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timestamp: str | None = Field(None, description="field of the time the request was served")
    prompt: str | None = Field(None, description="field of the user's question")
    response: str | None = Field(None, description="field of the model's answer")
    feedback: str | None = Field(None, description="field of the user's feedback or a label (optional)")
    model: str | None = Field(None, description="field of the served model's name (optional)")
    id: str | None = Field(None, description="field of the record's id (optional)")

    @property
    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


def load_mapping(path: str | Path | None = None, pairs: dict[str, Any] | None = None) -> TrafficMapping:
    """A mapping from a YAML file and/or ``--field key=path`` pairs (pairs win); errors name file:line."""
    raw: dict[str, Any] = {}
    if path:
        doc = load_yaml(path, "mapping file")
        validate(TrafficMapping, doc)
        raw.update(doc.data)
    for key, value in (pairs or {}).items():
        if key not in FIELDS:
            raise ConfigError(f"--field {key}=...: unknown field {key!r} (fields: {', '.join(FIELDS)})")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"--field {key}=...: give a dotted path or a template")
        raw[key] = value
    return TrafficMapping.model_validate(raw)


# -- reading one record -----------------------------------------------------------------------------
class _Missing(Exception):
    pass


def _path(rec: Any, source: str) -> Any:
    """A dotted path into nested objects and lists (``a.b.0.c``; negative indexes from the end)."""
    if isinstance(rec, dict) and source in rec:
        return rec[source]
    value = rec
    for part in source.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise _Missing(part)
    return value


def _get(rec: dict, source: str, field: str, where, line) -> Any:
    if "{{" in source or "{%" in source:
        from suites._mapping import _value  # the suites' template rendering, with its file:line errors

        return _value(rec, source, field, line, where)
    try:
        return _path(rec, source)
    except _Missing:
        raise DataError(where, line, f"field {field}: {source!r} is missing (the record has: "
                                     f"{', '.join(map(str, rec))[:200]})") from None


def _content(value: Any, field: str, where, line) -> str:
    """Message content: a string, or OpenAI's list of parts (the text parts joined)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    if isinstance(value, dict) and "content" in value:
        return _content(value["content"], field, where, line)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise DataError(where, line, f"field {field}: expected text, found {_type(value)}")


def _type(value: Any) -> str:
    from suites._data import json_type

    return json_type(value)


def parse_timestamp(value: Any, field: str, where, line) -> datetime:
    """ISO 8601 (a zone is converted to UTC; none means UTC) or Unix seconds/milliseconds -> naive UTC."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            ts = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise DataError(where, line, f"field {field}: {value!r} is not a Unix time") from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            ts = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise DataError(where, line, f"field {field}: {value!r} is not an ISO 8601 time "
                                         "(e.g. 2026-12-01T10:00:00Z) nor a Unix time") from None
    else:
        raise DataError(where, line, f"field {field}: expected a time, found {_type(value)}")
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


def parse_feedback(value: Any, field: str, where, line) -> float | None:
    """A number, a boolean, a word (up/down, good/bad, correct/incorrect...) or an object holding one."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise DataError(where, line, f"field {field}: {value!r} is not a finite number")
        return float(value)
    if isinstance(value, str):
        word = value.strip().lower().replace(" ", "_").replace("-", "_") if value.strip() not in ("+1", "-1") \
            else value.strip()
        if word in _POSITIVE:
            return 1.0
        if word in _NEGATIVE:
            return 0.0
        if not word:
            return None
        try:
            number = float(word)
        except ValueError:
            raise DataError(where, line, f"field {field}: {value!r} is not feedback (a number, true/false, "
                                         "up/down, good/bad, correct/incorrect)") from None
        if not math.isfinite(number):
            raise DataError(where, line, f"field {field}: {value!r} is not a finite number")
        return number
    if isinstance(value, dict):
        for key in ("score", "rating", "value", "thumbs", "label", "correct"):
            if key in value:
                return parse_feedback(value[key], f"{field}.{key}", where, line)
        raise DataError(where, line, f"field {field}: an object without score, rating, value, thumbs, label or "
                                     "correct")
    raise DataError(where, line, f"field {field}: expected feedback, found {_type(value)}")


def _default_prompt_response(rec: dict, where, line) -> tuple[str, Any]:
    """(prompt, response or a sentinel) from the OpenAI-style layout."""
    prompt, response = None, _NONE
    messages = rec.get("messages")
    if messages is not None:
        if not isinstance(messages, list) or not messages:
            raise DataError(where, line, f"field messages: expected a non-empty list of {{role, content}}, found "
                                         f"{_type(messages)}")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m:
                raise DataError(where, line, f"field messages[{i}]: expected an object with role and content")
        last = messages[-1]
        if last.get("role") == "assistant" and "response" not in rec and "choices" not in rec:
            response = _content(last.get("content"), f"messages[{len(messages) - 1}].content", where, line)
            messages = messages[:-1]
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        if not users:
            raise DataError(where, line, "field messages: no message with role user")
        prompt = _content(messages[users[-1]].get("content"), f"messages[{users[-1]}].content", where, line)
    elif "prompt" in rec:
        prompt = _content(rec["prompt"], "prompt", where, line)
    else:
        raise DataError(where, line, "field messages: missing (neither messages nor prompt; map other layouts "
                                     "with --mapping or --field prompt=PATH)")
    if response is _NONE:
        if "response" in rec:
            value = rec["response"]
            if value is None:
                raise DataError(where, line, "field response: missing (null)")
            response = _content(value, "response", where, line)
        elif "choices" in rec:
            try:
                response = _content(_path(rec, "choices.0.message.content"), "choices[0].message.content", where,
                                    line)
            except _Missing:
                raise DataError(where, line, "field choices[0].message.content: missing") from None
        else:
            raise DataError(where, line, "field response: missing (map other layouts with --mapping or "
                                         "--field response=PATH)")
    return prompt, response


_NONE = object()
_TIME_KEYS = ("timestamp", "created", "ts", "time")


def read_record(rec: Any, m: TrafficMapping, where, line) -> dict:
    """{id, timestamp, model, prompt, response, feedback} of one record; a DataError names file:line and field."""
    if not isinstance(rec, dict):
        raise DataError(where, line, f"expected a JSON object, found {_type(rec)}")
    if m.timestamp:
        ts_value, ts_field = _get(rec, m.timestamp, "timestamp", where, line), m.timestamp
    else:
        ts_field = next((k for k in _TIME_KEYS if k in rec), None)
        if ts_field is None:
            raise DataError(where, line, "field timestamp: missing (or map it: --field timestamp=PATH)")
        ts_value = rec[ts_field]
    if ts_value is None:
        raise DataError(where, line, f"field {ts_field}: missing (null)")
    ts = parse_timestamp(ts_value, ts_field, where, line)
    if m.prompt and m.response:
        prompt = _content(_get(rec, m.prompt, "prompt", where, line), m.prompt, where, line)
        value = _get(rec, m.response, "response", where, line)
        if value is None:
            raise DataError(where, line, f"field {m.response}: missing (null)")
        response = _content(value, m.response, where, line)
    else:
        prompt, response = _default_prompt_response(rec, where, line)
        if m.prompt:
            prompt = _content(_get(rec, m.prompt, "prompt", where, line), m.prompt, where, line)
        if m.response:
            response = _content(_get(rec, m.response, "response", where, line), m.response, where, line)
    if not prompt.strip():
        raise DataError(where, line, f"field {m.prompt or 'prompt'}: empty")
    if m.feedback:
        try:
            fb_value = _path(rec, m.feedback) if "{{" not in m.feedback else _get(rec, m.feedback, "feedback", where,
                                                                                    line)
        except _Missing:
            fb_value = None  # feedback is optional on every record
        feedback = parse_feedback(fb_value, m.feedback, where, line)
    else:
        feedback = parse_feedback(rec.get("feedback"), "feedback", where, line)
    model = _get(rec, m.model, "model", where, line) if m.model else rec.get("model")
    if model is not None and not isinstance(model, str):
        model = str(model)
    rid = _get(rec, m.id, "id", where, line) if m.id else rec.get("id")
    return {"id": None if rid is None else str(rid), "timestamp": ts, "model": model, "prompt": prompt,
            "response": response, "feedback": feedback}
