"""Serve the dashboard and look at it with Debian's headless chromium (used by the browser test).

    python -m tests.dashboards.browser DB OUT_DIR [page ...]   # screenshots of pages, for a human to look at
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness.cli.dashboard_cmd import streamlit_argv

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--window-size=1400,2000"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(db: Path, timeout_s: float = 60.0):
    """``medtune dashboard``'s streamlit command on a free 127.0.0.1 port; yields the base URL."""
    port = free_port()
    env = {**os.environ, "MEDTUNE_DB": str(db)}
    proc = subprocess.Popen(streamlit_argv(db, port, "127.0.0.1"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: {proc.stderr.read() if proc.poll() is not None else 'timeout'}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Browser:
    """Headless chromium driven over the DevTools protocol (websockets ships with streamlit).

    Waiting on the rendered text, not on a virtual-time budget: a Streamlit page renders over a
    websocket after its script has run, which on a loaded machine takes seconds.
    """

    def __init__(self):
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="medtune-chromium-")
        self.proc = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                                      "--remote-debugging-port=0", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file, deadline = Path(self.profile) / "DevToolsActivePort", time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        ws_url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self._stack = contextlib.ExitStack()
        self.ws, self.next_id = self._stack.enter_context(connect(ws_url, max_size=None)), 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive between responses
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def state(self) -> dict:
        """The page's text, and whether every plotly chart container holds a drawn plot."""
        js = """JSON.stringify({text: document.body ? document.body.innerText : '',
            charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
            drawn: document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg').length > 0
                   ? document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot').length : 0})"""
        return json.loads(self.call("Runtime.evaluate", expression=js, returnByValue=True)["result"]["value"])

    def open(self, url: str, needles: list[str], timeout_s: float = 90.0) -> str:
        """Navigate; wait until every needle is on the page, the text has stopped changing and the
        charts are drawn. Returns the page's text."""
        self.call("Page.navigate", url=url)
        deadline, last = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            time.sleep(1.0)
            state = self.state()
            text = state["text"]
            if all(n in text for n in needles) and text == last and state["drawn"] >= state["charts"]:
                time.sleep(0.5)  # let the last chart finish its transition before a screenshot
                return text
            last = text
        return last or ""

    def screenshot(self, out: Path) -> Path:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    db, out_dir, *pages = sys.argv[1:]
    with serve(Path(db).resolve()) as base, Browser() as browser:
        for page in pages or [""]:
            browser.open(f"{base}/{page}", ["results DB"])
            print(browser.screenshot(Path(out_dir) / f"{page or 'overview'}.png"))
