"""One lazy registry: names mapped to ``"module:attr"`` targets, imported on first use.

Suite types, tuning methods and model backends each keep one ``Registry``; registering a target
costs nothing (no import), so the CLI's ``--help`` never pays for torch. Tests and plugins may
register an object directly instead of a string (e.g. a mock backend class).

    BACKENDS = Registry("backend", {"hf-causal": "harness.models.hf_causal:HFCausalLM"})
    BACKENDS.get("hf-causal")   # imports harness.models.hf_causal now
    BACKENDS.get("nope")        # MedtuneError: unknown backend 'nope'; known: hf-causal
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from harness.errors import MedtuneError


class Registry:
    """Names -> ``"module:attr"`` strings (or objects), resolved lazily and cached."""

    def __init__(self, what: str, targets: Mapping[str, Any] | None = None):
        self.what = what  # the noun used in errors: "suite type", "tuning method", "backend"
        self._targets: dict[str, Any] = {}
        self._loaded: dict[str, Any] = {}
        for name, target in (targets or {}).items():
            self.register(name, target)

    def register(self, name: str, target: Any, *, replace: bool = False) -> None:
        """Add ``name``; ``target`` is ``"module:attr"`` (imported on first ``get``) or the object itself."""
        if isinstance(target, str):
            module, sep, attr = target.partition(":")
            if not (module and sep and attr):
                raise ValueError(f"{self.what} {name!r}: target {target!r} is not 'module:attr'")
        if name in self._targets and not replace and self._targets[name] != target:
            raise ValueError(f"{self.what} {name!r} is already registered ({self._targets[name]!r})")
        self._targets[name] = target
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        self._targets.pop(name, None)
        self._loaded.pop(name, None)

    def get(self, name: str) -> Any:
        """The registered object, imported now if needed; an unknown name is a MedtuneError naming the known ones."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._targets:
            known = ", ".join(self.names()) or "none"
            raise MedtuneError(f"unknown {self.what} {name!r}; known: {known}")
        target = self._targets[name]
        obj = import_target(target) if isinstance(target, str) else target
        self._loaded[name] = obj
        return obj

    def module(self, name: str):
        """The module a string target lives in (e.g. to read a method's ``Params``)."""
        target = self.target(name)
        if not isinstance(target, str):
            return importlib.import_module(getattr(target, "__module__", "builtins"))
        return importlib.import_module(target.partition(":")[0])

    def target(self, name: str) -> Any:
        """The registered target without importing it."""
        if name not in self._targets:
            self.get(name)  # raises the unknown-name error
        return self._targets[name]

    def names(self) -> list[str]:
        return list(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {self.names()!r})"


def import_target(target: str) -> Any:
    """Import ``"module:attr"`` (attr may be dotted); a missing attribute is an ImportError naming the target."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"{target}: module {module} has no attribute {attr}") from None
    return obj
