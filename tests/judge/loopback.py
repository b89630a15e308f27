"""A real OpenAI-compatible chat-completions server on 127.0.0.1 (http.server in a thread), for tests and
bench/judge_bench.py. ``mode`` scripts its replies:

- ``ok``: a verdict (met when the criterion's text has an even length), as a JSON message content;
- ``malformed_once``: prose the first time a prompt is seen, then the verdict;
- ``malformed``: always prose (never a verdict);
- ``fail_once``: HTTP 500 the first time a prompt is seen, then the verdict;
- ``slow_once``: sleeps ``slow_s`` the first time a prompt is seen (past the client's timeout), then the verdict;
- ``bad_body``: a 200 whose body is not a chat completion.

``delay_s``: every call sleeps that long first (a real judge's latency). Counts calls, remembers headers.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Loopback:
    def __init__(self, mode: str = "ok", delay_s: float = 0.0, slow_s: float = 1.0):
        self.mode, self.delay_s, self.slow_s = mode, delay_s, slow_s
        self.calls, self.seen, self.headers, self.models = 0, set(), [], []
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.calls += 1
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    outer.headers.append(dict(self.headers))
                    outer.models.append(body.get("model"))
                    prompt = body["messages"][-1]["content"]
                    first = prompt not in outer.seen
                    outer.seen.add(prompt)
                try:
                    outer._answer(self, prompt, first)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default backlog (5) drops connects under concurrency: 1 s SYN retries

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler, prompt: str, first: bool) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        mode = self.mode
        if mode == "fail_once" and first:
            return self._send(handler, 500, {"error": "boom"})
        if mode == "slow_once" and first:
            time.sleep(self.slow_s)
        if mode == "bad_body":
            return self._send(handler, 200, {"unexpected": True})
        if mode == "malformed" or (mode == "malformed_once" and first):
            content = "I think the criterion is probably met."
        else:
            crit = re.search(r"<criterion[^>]*>\n(.*?)\n</criterion>", prompt, re.S)
            met = len(crit.group(1)) % 2 == 0 if crit else False
            content = json.dumps({"met": met, "reason": "loopback verdict"})
        self._send(handler, 200, {"id": "x", "object": "chat.completion",
                                  "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                               "finish_reason": "stop"}]})

    @staticmethod
    def _send(handler, code: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout)


def expected_met(criterion: str) -> bool:
    return len(criterion) % 2 == 0
