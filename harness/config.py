"""One loader for every YAML file medtune reads (suites, recipes, gate policies) and one
``key=value`` parser for the CLI.

Every error names the file and, where there is one, the line and the field:
``recipe.yaml:12: train.lr: Input should be a finite number``. Files that are not UTF-8, folders
given as files, duplicate keys and YAML syntax errors are refused the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError


def read_text(path: Path, what: str = "file") -> str:
    """A text file as UTF-8; a folder, a missing file or bytes that are not UTF-8 are ConfigErrors."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a {what}")
    if not path.exists():
        raise ConfigError(f"{path}: {what} not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlDoc:
    """A parsed YAML mapping plus its node tree, so that errors can point at a line."""

    def __init__(self, path: Path, data: dict, root: yaml.Node | None):
        self.path, self.data, self.root = Path(path), data, root

    def line(self, loc: tuple) -> str:
        """``:N`` for the line of ``loc`` (as far down the path as it exists), else ``''``."""
        node = self.root
        if node is None:
            return ""
        for key in loc:
            if isinstance(node, yaml.MappingNode):
                nxt = next((v for k, v in node.value if k.value == str(key)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                nxt = node.value[key]
            else:
                nxt = None
            if nxt is None:
                break
            node = nxt
        return f":{node.start_mark.line + 1}"

    def error(self, loc: tuple, message: str) -> ConfigError:
        field = format_loc(loc)
        return ConfigError(f"{self.path}{self.line(loc)}: {field + ': ' if field else ''}{message}")


def format_loc(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def load_yaml(path: str | Path, what: str = "file") -> YamlDoc:
    """Read a YAML mapping; every problem is a ConfigError naming ``file:line``."""
    path = Path(path)
    text = read_text(path, what)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: invalid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} must be a YAML mapping of fields, not a {type(data).__name__}")
    return YamlDoc(path, data, root)


def validate(model: type[BaseModel], doc: YamlDoc, raw: dict | None = None, drop: tuple = ()) -> Any:
    """Validate ``raw`` (default: the document's data) against a pydantic model.

    The first error (an unknown key first: a typo explains the errors after it) becomes one line:
    ``file:line: field: message``. ``drop`` lists path parts pydantic inserts (union tags)."""
    try:
        return model.model_validate(doc.data if raw is None else raw)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        loc = tuple(p for p in err["loc"] if p not in drop)
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "is required"
        else:
            msg = err["msg"]
        raise doc.error(loc, msg) from None


def parse_pairs(pairs: list[str] | None, flag: str, example: str = "key=value") -> dict[str, Any]:
    """CLI ``key=value`` pairs (``--option``, ``--set``); values are YAML scalars (true, 3, [a, b])."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {pair!r}: expected {example}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"{flag} {pair!r}: the value is not a valid YAML scalar") from None
    return out
