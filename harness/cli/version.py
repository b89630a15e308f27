"""``medtune --version``: the package version and which dependency lock the environment was installed from."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

# .ci/setup writes one line here: the sha256 of the lock it installed from, the lock's path in the checkout, and the
# torch it kept (`torch==X`, a GPU image's own) or `-`. Older stamps hold the digest alone (of .ci/requirements.lock).
STAMP = "medtune-lock.sha256"
OLD_LOCK = ".ci/requirements.lock"


def _checkout() -> Path | None:
    """The source checkout this code runs from (an editable install), if there is one."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / ".ci").is_dir() else None


def lock_text(prefix: str | Path | None = None, checkout: Path | None = None) -> str:
    """``lock sha256:1a2b3c4d5e6f, installed from .ci/requirements-py3.11.lock``, or why there is no such hash."""
    stamp = Path(prefix if prefix is not None else sys.prefix) / STAMP
    root = checkout if checkout is not None else _checkout()
    try:
        fields = stamp.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        fields = []
    if not fields:
        return "not installed from a lock"
    digest, lock = fields[0].lower(), fields[1] if len(fields) > 1 else OLD_LOCK
    text = f"lock sha256:{digest[:12]}, installed from {lock}"
    if len(fields) > 2 and fields[2] != "-":
        text += f" with the environment's own {fields[2]}"
    path = root / lock if root else None
    if path is not None and path.is_file():
        current = hashlib.sha256(path.read_bytes()).hexdigest()
        if current != digest:
            text += f"; the checkout's {lock} is now sha256:{current[:12]}: re-run .ci/setup"
    return text


def version_text() -> str:
    from harness import __version__

    return f"medtune {__version__} ({lock_text()})"
