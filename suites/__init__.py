"""What is measured. Each suite is a YAML file below this folder plus a small function.

``list_suites()`` names every shipped suite; ``load_suite(name)`` validates and returns one.
Files whose name starts with ``_`` are bases for ``include:`` and not suites themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import MedtuneError
from suites._spec import load_spec
from suites._suite import Suite

SUITES_DIR = Path(__file__).parent


def suite_files() -> dict[str, Path]:
    files = {}
    for path in sorted(SUITES_DIR.rglob("*.yaml")):
        if not path.name.startswith("_"):
            files[path.stem] = path
    return files


def list_suites() -> list[str]:
    return list(suite_files())


def load_suite(name_or_path: str, options: dict[str, Any] | None = None, num_fewshot: int | None = None,
               seed: int = 1234) -> Suite:
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml"} and path.exists()):
        files = suite_files()
        if name_or_path not in files:
            raise MedtuneError(f"unknown suite {name_or_path!r}; known suites: {', '.join(files)}")
        path = files[name_or_path]
    spec, read = load_spec(path)
    return Suite(spec, path, read, options=options, num_fewshot=num_fewshot, seed=seed)


__all__ = ["Suite", "list_suites", "load_suite", "suite_files"]
