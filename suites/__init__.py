"""What is measured. Each suite is a YAML file plus a small function (or a ``docs:`` mapping).

``list_suites()`` names every suite: the shipped ones (below this folder), those in the user's
suite folders (``--suites-dir``, ``MEDTUNE_SUITES``: several, separated by ``os.pathsep``) and
suite files named by path (``--suite ./my_suite.yaml``); ``suite_sources()`` says where each came
from. ``load_suite(name)`` validates and returns one; ``resolve_suite_names`` turns what a user
typed (names, families, ``all``, paths to files or folders, ``lmeval:TASK``) into suite names.
Files whose name starts with ``_`` are bases for ``include:`` and not suites themselves. A
user's suite with the name of another suite is an error naming both files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, MedtuneError
from suites._spec import load_spec
from suites._suite import Suite

SUITES_DIR = Path(__file__).parent
ENV_DIRS = "MEDTUNE_SUITES"
ENV_LMEVAL = "MEDTUNE_LMEVAL_INCLUDE"
LMEVAL = "lmeval:"  # prefix of an lm-eval task run as a suite (harness/lmeval_tasks.py)

_dirs: list[Path] = []  # --suites-dir
_files: list[Path] = []  # --suite PATH.yaml
_lmeval_include: list[Path] = []  # --lmeval-include, and the folders of lm-eval task files named by path


@dataclass(frozen=True)
class SuiteSource:
    name: str
    path: Path
    source: str  # "shipped", the user's suite folder, or "file"


def add_suite_dirs(folders, flag: str = "--suites-dir") -> None:
    """Add user suite folders (each a folder of suite YAML files, searched recursively)."""
    for folder in folders or []:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise MedtuneError(f"{flag} {folder}: not a folder")
        if path.resolve() not in [d.resolve() for d in _dirs]:
            _dirs.append(path)


def add_lmeval_include(folders) -> None:
    """Folders (or task YAML files) of lm-eval tasks that ``lmeval:TASK`` may name."""
    for folder in folders or []:
        path = Path(folder).expanduser()
        if not path.exists():
            raise MedtuneError(f"--lmeval-include {folder}: no such file or folder")
        path = path if path.is_dir() else path.parent
        if path.resolve() not in [d.resolve() for d in _lmeval_include]:
            _lmeval_include.append(path)


def lmeval_include() -> list[Path]:
    """``--lmeval-include`` folders, then those of ``MEDTUNE_LMEVAL_INCLUDE`` (os.pathsep-separated)."""
    out = list(_lmeval_include)
    for part in os.environ.get(ENV_LMEVAL, "").split(os.pathsep):
        if part.strip() and Path(part.strip()).resolve() not in [p.resolve() for p in out]:
            out.append(Path(part.strip()))
    return out


def reset_user_suites() -> None:
    """Forget the folders and files added in this process (tests)."""
    _dirs.clear()
    _files.clear()
    _lmeval_include.clear()


def suite_dirs() -> list[Path]:
    """The user's suite folders: ``--suites-dir`` ones, then ``MEDTUNE_SUITES``'s."""
    out = list(_dirs)
    for part in os.environ.get(ENV_DIRS, "").split(os.pathsep):
        if part.strip():
            path = Path(part.strip()).expanduser()
            if not path.is_dir():
                raise MedtuneError(f"{ENV_DIRS}: {part} is not a folder")
            if path.resolve() not in [d.resolve() for d in out]:
                out.append(path)
    return out


def _is_lmeval_task(data: dict) -> bool:
    return isinstance(data.get("task"), str) and "type" not in data and "family" not in data


def _file_name(path: Path) -> str:
    """A user's suite file's name: its own ``name:`` (else the file stem); an lm-eval task file's
    is ``lmeval:<task>``."""
    from harness.config import load_yaml

    data = load_yaml(path, "suite file").data
    if _is_lmeval_task(data):
        return LMEVAL + data["task"]
    name = data.get("name")
    return name if isinstance(name, str) and name.strip() else path.stem


def suite_sources() -> dict[str, SuiteSource]:
    """Every suite by name with its file and where it came from; a name defined twice is an error."""
    out: dict[str, SuiteSource] = {}

    def add(path: Path, source: str, name: str | None = None) -> None:
        name = name or _file_name(path)
        old = out.get(name)
        if old is not None and old.path.resolve() != path.resolve():
            raise ConfigError(f"suite {name!r} is defined twice: {old.path} ({old.source}) and {path} ({source}); "
                              "rename one (its name: field, or the file)")
        if old is None:
            out[name] = SuiteSource(name, path, source)

    for path in sorted(SUITES_DIR.rglob("*.yaml")):
        if not path.name.startswith("_"):
            add(path, "shipped", path.stem)
    for folder in suite_dirs():
        for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
            if not path.name.startswith("_"):
                add(path, str(folder))
    for path in _files:
        add(path, "file")
    return out


def suite_files() -> dict[str, Path]:
    return {name: s.path for name, s in suite_sources().items()}


def list_suites() -> list[str]:
    return list(suite_sources())


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text or text in (".", "..")


def resolve_suite_names(names: list[str]) -> list[str]:
    """What the user typed -> suite names: a name, a family (e.g. ``medical_qa``), ``all`` (every
    medtune suite), a suite file or a folder of them (registered, then named), ``lmeval:TASK``
    or an lm-eval task file."""
    out = []
    for text in names:
        if text.startswith(LMEVAL):
            out.append(text)
            continue
        if _looks_like_path(text):
            path = Path(text).expanduser()
            if path.is_dir():
                add_suite_dirs([path], "--suite")
                found = [n for n, s in suite_sources().items() if s.path.resolve().is_relative_to(path.resolve())]
                if not found:
                    raise MedtuneError(f"--suite {text}: no suite files in this folder (*.yaml or *.yml whose name "
                                       "does not start with _)")
                out.extend(found)
            elif path.is_file():
                name = _file_name(path)
                if name.startswith(LMEVAL):
                    add_lmeval_include([path.parent])
                elif path.resolve() not in [f.resolve() for f in _files]:
                    _files.append(path)
                    try:
                        suite_sources()  # a clash is reported now, naming both files
                    except MedtuneError:
                        _files.pop()
                        raise
                out.append(name)
            else:
                raise MedtuneError(f"--suite {text}: no such suite file or folder")
            continue
        sources = suite_sources()
        if text in sources:
            out.append(text)
            continue
        family = [n for n in sources if not n.startswith(LMEVAL) and (text == "all" or load_suite(n).spec.family == text)]
        if not family:
            raise MedtuneError(f"unknown suite {text!r}; known suites: {', '.join(sources)} "
                               "(or a family, all, a suite file or folder, or lmeval:TASK)")
        out.extend(family)
    return list(dict.fromkeys(out))


def load_suite(name_or_path: str, options: dict[str, Any] | None = None, num_fewshot: int | None = None,
               seed: int = 1234, data_root: Path | str | None = None):
    """A suite by name (any source), or by the path of its file; ``lmeval:TASK`` is an lm-eval task."""
    if name_or_path.startswith(LMEVAL):
        from suites._lmeval import load_lmeval_suite

        if _dirs or os.environ.get(ENV_DIRS):  # an lm-eval task file in a suite folder: its folder is an include
            found = suite_sources().get(name_or_path)
            if found is not None:
                add_lmeval_include([found.path.parent])

        return load_lmeval_suite(name_or_path[len(LMEVAL):], lmeval_include(), options=options,
                                 num_fewshot=num_fewshot, seed=seed, data_root=data_root)
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml"} and path.exists()):
        files = suite_files()
        if name_or_path not in files:
            raise MedtuneError(f"unknown suite {name_or_path!r}; known suites: {', '.join(files)}")
        path = files[name_or_path]
    elif _file_name(path).startswith(LMEVAL):
        add_lmeval_include([path.parent])
        return load_suite(_file_name(path), options, num_fewshot, seed, data_root)
    spec, read = load_spec(path)
    return Suite(spec, path, read, options=options, num_fewshot=num_fewshot, seed=seed, data_root=data_root)


__all__ = ["Suite", "SuiteSource", "add_lmeval_include", "add_suite_dirs", "list_suites", "load_suite",
           "resolve_suite_names", "suite_files", "suite_sources"]
