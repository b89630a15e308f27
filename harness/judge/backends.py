"""The three judge kinds behind ``harness.judge.Judge``: mock, a local causal model, an HTTP endpoint."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from harness.errors import MedtuneError
from harness.judge.base import RUNTIME, Judge, JudgeUnavailable, judge_id


class MockJudge(Judge):
    """Deterministic verdicts from a SHA-256 of (seed, criterion, response): the same in every process."""

    def __init__(self, spec: str = "mock"):
        self.id = spec

    def complete(self, prompts):
        out = []
        for messages in prompts:
            digest = hashlib.sha256(repr((self.id, messages[-1]["content"])).encode()).digest()
            u = struct.unpack(">Q", digest[:8])[0] / 2**64
            out.append(json.dumps({"met": u < 0.5, "reason": f"mock verdict ({u:.3f}); means nothing"}))
        return out


class HFJudge(Judge):
    """A causal model medtune loads, greedy through its chat template, primed with ``{"met":``."""

    prefill = '{"met":'
    repeatable = False  # greedy: the same prompt gives the same reply

    def __init__(self, name: str, device: str = "auto", max_new_tokens: int = 48):
        if not name.strip():
            raise MedtuneError("--judge hf:<model>: name a built-in model (smollm2-135m), an HF folder or a hub id")
        self.id = f"hf:{name.strip()}"
        self.name, self.device, self.max_new_tokens = name.strip(), device, max_new_tokens
        self.lm = None

    def check(self) -> None:
        if self.lm is None:
            from harness.models import registry

            ref = registry.resolve(self.name)
            self.lm = registry.load(ref, device=self.device)
            if not getattr(self.lm, "chat_template", None) or not hasattr(self.lm, "apply_chat_template"):
                raise MedtuneError(f"--judge {self.id}: the model has no chat template; a judge must be an "
                                   "instruct (chat) model")

    def complete(self, prompts):
        from harness.contract import Request

        self.check()
        reqs = [Request("generate_until", i, 0, (self.lm.apply_chat_template(m, add_generation_prompt=True)
                                                 + self.prefill, ("}",), self.max_new_tokens))
                for i, m in enumerate(prompts)]
        out = []
        for text in self.lm.generate_until(reqs):
            text = text.strip()
            out.append(text if text.endswith("}") else text + "}")
        return out


class HTTPJudge(Judge):
    """An OpenAI-compatible ``/chat/completions`` endpoint, called from ``concurrency`` threads.

    Each call: ``timeout`` seconds; a failed call (connection reset, timeout, HTTP 429 or 5xx, a body that is not
    a chat completion) is retried ``retries`` times with exponential backoff (``backoff`` * 2**attempt s).
    Connection refused / unknown host on every attempt means the endpoint is down: ``JudgeUnavailable``."""

    def __init__(self, url: str, model: str | None = None):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise MedtuneError(f"--judge {url}: expected an endpoint like http://127.0.0.1:8000/v1")
        self.url = url.rstrip("/")
        self.model = model or "default"
        self.id = judge_id(url, model)
        self.host, self.port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)

    def check(self) -> None:
        try:
            socket.create_connection((self.host, self.port), timeout=min(5.0, float(RUNTIME["timeout"]))).close()
        except OSError as exc:
            raise MedtuneError(f"judge endpoint {self.url} is not reachable ({exc.strerror or exc}); start the server "
                               "or point --judge elsewhere") from None

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        env = RUNTIME.get("key_env")
        if env:
            key = os.environ.get(env)
            if not key:
                raise MedtuneError(f"--judge-key-env {env}: that environment variable is not set")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def ask(self, messages: list[dict], headers: dict) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0, "max_tokens": 200}).encode()
        retries, backoff = int(RUNTIME["retries"]), float(RUNTIME["backoff"])
        last: Exception | None = None
        refused = 0
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url + "/chat/completions", data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=float(RUNTIME["timeout"])) as resp:
                    payload = json.loads(resp.read().decode("utf-8"))
                return payload["choices"][0]["message"]["content"]
            except urllib.error.HTTPError as exc:
                last = exc
                if exc.code not in (408, 409, 429) and exc.code < 500:
                    return exc  # a 4xx (bad model name, bad key) does not get better by asking again
            except urllib.error.URLError as exc:
                last = exc
                if isinstance(exc.reason, (ConnectionRefusedError, socket.gaierror)):
                    refused += 1
            except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, ValueError, KeyError,
                    IndexError, TypeError) as exc:
                last = exc
        if refused == retries + 1:
            return JudgeUnavailable(f"{self.url}: connection refused")
        return last

    def complete(self, prompts):
        headers = self._headers()
        with ThreadPoolExecutor(max_workers=max(1, int(RUNTIME["concurrency"]))) as pool:
            return list(pool.map(lambda m: self.ask(m, headers), prompts))
