"""Where medtune runs (README, "Where it runs"): the declared ranges admit a typical GPU image, no numeric cap
excludes numpy 2, and the environment under test is exactly what its lock (or CI's MEDTUNE_EXPECT) says."""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from harness.cli.version import STAMP

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CORE = {Requirement(r).name: Requirement(r) for r in PYPROJECT["project"]["dependencies"]}
# The GPU machine lent to this project (ENVIRONMENT.md): what a current GPU image brings.
GPU_IMAGE = {"torch": "2.11.0+cu130", "transformers": "5.17.0", "accelerate": "1.15.0", "peft": "0.21.0",
             "numpy": "2.5.0", "pandas": "2.3.3", "scipy": "1.16.0"}


def test_this_python_is_supported():
    assert (3, 11) <= sys.version_info[:2] <= (3, 13)
    spec = PYPROJECT["project"]["requires-python"]
    for minor in (11, 12, 13):
        assert Requirement(f"python{spec}").specifier.contains(f"3.{minor}.0")


@pytest.mark.parametrize("name,version", GPU_IMAGE.items())
def test_a_gpu_images_own_packages_satisfy_the_ranges(name, version):
    assert CORE[name].specifier.contains(version, prereleases=True), f"{CORE[name]} excludes the image's {version}"


@pytest.mark.parametrize("name", ["numpy", "pandas", "scipy", "pyarrow"])
def test_no_cap_on_the_numeric_stack(name):
    assert not any(s.operator in ("<", "<=", "==", "~=") for s in CORE[name].specifier), CORE[name]


def test_giskard_is_an_extra_not_the_core():
    assert "giskard" not in CORE
    extra = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["giskard"]]
    assert all(r.marker is not None and not r.marker.evaluate({"python_version": "3.12"}) for r in extra)


def test_vllm_extra_resolves_on_312_with_medtunes_ranges():
    """`bash .ci/lock` resolves medtune[vllm] on Python 3.12 into this file: the vLLM it names fits every range."""
    lock = (REPO / ".ci" / "requirements-vllm-py3.12.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock, re.M))
    assert Version(pins["vllm"]) >= Version("0.33")
    for name in ("torch", "transformers", "numpy", "accelerate", "peft"):
        assert CORE[name].specifier.contains(pins[name]), (name, pins[name])


def _stamp() -> list[str]:
    path = Path(sys.prefix) / STAMP
    return path.read_text().split() if path.is_file() else []


def test_the_environment_is_its_lock():
    """Every package of the lock this environment was installed from is here at the locked version (a kept torch
    and the libraries only it needs excepted)."""
    fields = _stamp()
    if len(fields) < 3:
        pytest.skip("not installed by .ci/setup from a lock")
    lock = (REPO / fields[1]).read_text()
    kept = fields[2] != "-"
    wrong = []
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock, re.M):
        if kept and re.match(r"(torch|triton|nvidia-.*|cuda-.*)$", name):
            continue
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name}: missing")
            continue
        if Version(have) != Version(version):
            wrong.append(f"{name}: {have} != {version}")
    assert not wrong, wrong
    assert Version(importlib.metadata.version("numpy")).major == 2  # every lock is on numpy 2


def test_expected_versions():
    """CI's Python 3.12 job sets MEDTUNE_EXPECT to the floors it installs (torch=2.11.0 ...): they are what runs."""
    expect = os.environ.get("MEDTUNE_EXPECT")
    if not expect:
        pytest.skip("MEDTUNE_EXPECT not set")
    for item in expect.split():
        name, version = item.split("=")
        assert Version(importlib.metadata.version(name)).base_version == version, name


def test_pip_into_this_environment_replaces_nothing(tmp_path):
    """The "into an existing GPU environment" path: `pip install -e .` here, offline, resolves every dependency from
    what is installed (CI's 3.12 job: beside its own torch 2.11.0), so it would install medtune alone."""
    import json
    import subprocess

    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--no-build-isolation",
                           "--no-index", "--report", str(report), "-e", str(REPO)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    installs = [i["metadata"]["name"] for i in json.loads(report.read_text())["install"]]
    assert installs == ["medtune"], installs
