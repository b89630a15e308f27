"""harness.registry.Registry: lazy "module:attr" targets, one error for unknown names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import MedtuneError
from harness.registry import Registry


def test_lazy_import_and_cache():
    reg = Registry("thing", {"join": "os.path:join", "dumps": "json:dumps"})
    import os.path

    assert reg.get("join") is os.path.join
    assert reg.get("join") is reg.get("join")
    assert reg.names() == ["join", "dumps"] and "dumps" in reg and len(reg) == 2
    assert reg.target("dumps") == "json:dumps"


def test_registering_does_not_import():
    code = ("import sys; from harness.registry import Registry; "
            "r = Registry('x', {'a': 'decimal:Decimal'}); r.register('b', 'fractions:Fraction'); "
            "assert 'decimal' not in sys.modules and 'fractions' not in sys.modules; "
            "r.get('a'); assert 'decimal' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_name_lists_known():
    reg = Registry("tuning method", {"lora": "os:getcwd", "dapt": "os:getpid"})
    with pytest.raises(MedtuneError, match=r"unknown tuning method 'x'; known: lora, dapt"):
        reg.get("x")
    with pytest.raises(MedtuneError, match="known: none"):
        Registry("backend").get("x")


def test_register_object_replace_and_unregister():
    reg = Registry("backend", {"a": "os:getcwd"})
    marker = object()
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", marker)
    reg.register("a", "os:getcwd")  # same target again is fine
    reg.get("a")
    reg.register("a", marker, replace=True)
    assert reg.get("a") is marker  # the cached import is dropped
    reg.unregister("a")
    assert "a" not in reg


def test_bad_targets():
    with pytest.raises(ValueError, match="not 'module:attr'"):
        Registry("x", {"a": "os.getcwd"})
    reg = Registry("x", {"a": "os:no_such_thing"})
    with pytest.raises(ImportError, match="no attribute"):
        reg.get("a")
    assert Registry("x", {"a": "os.path:join"}).module("a").__name__ in ("posixpath", "ntpath", "os.path")


def test_suite_types_and_tuning_methods_use_the_registry():
    import ast
    import importlib.util
    from pathlib import Path

    from suites._types import TYPES, get_type
    from tuning.methods import METHODS

    assert isinstance(TYPES, Registry) and isinstance(METHODS, Registry)
    assert get_type("nope") is None
    for name in TYPES:
        assert isinstance(get_type(name), type)
    with pytest.raises(MedtuneError, match=r"unknown tuning method 'nope'; known: dapt, full, sft, lora, qlora, ner_head"):
        METHODS.get("nope")
    for name in METHODS:  # each target is a function defined in its module (without importing torch here)
        module, _, func = METHODS.target(name).partition(":")
        source = Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")
        assert func in {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}, name
