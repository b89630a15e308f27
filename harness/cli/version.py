"""``medtune --version``: the package version and which dependency lock the environment was installed from."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

LOCK = ".ci/requirements.lock"
# .ci/setup writes the sha256 of the lock it installed from here (one line: the hex digest).
STAMP = "medtune-lock.sha256"


def _checkout_lock() -> Path | None:
    """The lock next to the source checkout this code runs from (an editable install), if there is one."""
    path = Path(__file__).resolve().parents[2] / LOCK
    return path if path.is_file() else None


def lock_text(prefix: str | Path | None = None, checkout_lock: Path | None = None) -> str:
    """``lock sha256:1a2b3c4d5e6f, installed from .ci/requirements.lock``, or why there is no such hash."""
    stamp = Path(prefix if prefix is not None else sys.prefix) / STAMP
    lock = checkout_lock if checkout_lock is not None else _checkout_lock()
    current = hashlib.sha256(lock.read_bytes()).hexdigest() if lock else None
    try:
        installed = stamp.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError, UnicodeDecodeError):
        installed = None
    if installed:
        text = f"lock sha256:{installed[:12]}, installed from {LOCK}"
        if current and current != installed:
            text += f"; the checkout's {LOCK} is now sha256:{current[:12]}: re-run .ci/setup"
        return text
    if current:
        return f"lock sha256:{current[:12]}, not installed from the lock"
    return "no lock"


def version_text() -> str:
    from harness import __version__

    return f"medtune {__version__} ({lock_text()})"
