"""`medtune --version` (package version and the dependency lock the environment came from), `import medtune`
and `python -m medtune`; the `medtune` package is harness/medtune, mapped in pyproject.toml."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.version import STAMP, lock_text

REPO = Path(__file__).resolve().parents[2]
MEDTUNE = Path(sys.executable).parent / "medtune"
LINE = re.compile(r"^medtune (\S+) \((lock sha256:[0-9a-f]{12}, installed from \.ci/requirements-\S+\.lock.*"
                  r"|not installed from a lock)\)$")
LOCK = ".ci/requirements-py3.12.lock"


@pytest.fixture()
def checkout(tmp_path) -> tuple[Path, str]:
    root = tmp_path / "checkout"
    (root / ".ci").mkdir(parents=True)
    (root / LOCK).write_text("torch==2.13.0 --hash=sha256:00\n")
    return root, hashlib.sha256((root / LOCK).read_bytes()).hexdigest()


def test_lock_installed_from(tmp_path, checkout):
    root, digest = checkout
    (tmp_path / STAMP).write_text(f"{digest} {LOCK} -\n")
    assert lock_text(tmp_path, root) == f"lock sha256:{digest[:12]}, installed from {LOCK}"


def test_kept_torch_is_named(tmp_path, checkout):
    root, digest = checkout
    (tmp_path / STAMP).write_text(f"{digest} {LOCK} torch==2.11.0\n")
    assert lock_text(tmp_path, root) == (f"lock sha256:{digest[:12]}, installed from {LOCK} "
                                         "with the environment's own torch==2.11.0")


def test_lock_changed_since_install_says_rerun_setup(tmp_path, checkout):
    root, digest = checkout
    (tmp_path / STAMP).write_text(f"{'ab' * 32} {LOCK} -\n")
    text = lock_text(tmp_path, root)
    assert text.startswith(f"lock sha256:{'ab' * 6}, installed from {LOCK}")
    assert f"sha256:{digest[:12]}" in text and "re-run .ci/setup" in text


def test_no_stamp(tmp_path, checkout):
    assert lock_text(tmp_path, checkout[0]) == "not installed from a lock"


def test_one_version_from_the_installed_distribution():
    import harness
    import medtune

    assert medtune.__version__ == harness.__version__ == importlib.metadata.version("medtune")
    assert "__version__ =" not in (REPO / "harness" / "__init__.py").read_text()  # no second copy
    assert Path(medtune.__file__).resolve() == REPO / "harness" / "medtune" / "__init__.py"


@pytest.mark.parametrize("argv", [[str(MEDTUNE)], [sys.executable, "-m", "medtune"]], ids=["script", "python -m"])
def test_version_line(argv):
    proc = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60, cwd=REPO.parent)
    assert proc.returncode == 0, proc.stderr
    match = LINE.match(proc.stdout.strip())
    assert match, proc.stdout
    assert match.group(1) == importlib.metadata.version("medtune")


def test_python_m_medtune_usage_error_is_2():
    proc = subprocess.run([sys.executable, "-m", "medtune", "gate"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Missing option '--candidate'" in proc.stderr and "Traceback" not in proc.stderr


def test_pyproject_ships_medtune_from_harness_medtune():
    """What a wheel gets: `medtune` from harness/medtune (not also as harness.medtune), every other package
    as before, and the package data (*.yaml, *.sql) of every package."""
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    from setuptools.dist import Distribution

    dist = pyprojecttoml.apply_configuration(Distribution(), REPO / "pyproject.toml")
    assert "medtune" in dist.packages and "harness.medtune" not in dist.packages
    assert Path(dist.package_dir["medtune"]) == Path("harness/medtune")
    assert {"harness", "harness.cli", "harness.gate.policies", "harness.store.migrations", "tuning",
            "tuning.recipes", "suites.qa", "dashboards"} <= set(dist.packages)
    assert {"*.yaml", "*.sql"} <= set(dist.package_data[""])
