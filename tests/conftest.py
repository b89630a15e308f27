"""Shared fixtures: offline switches, the data root, tiny models, a scratch DB."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
                   "GSK_DISABLE_ANALYTICS": "True", "TRANSFORMERS_VERBOSITY": "error",
                   "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(key, value)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real datasets (MEDTUNE_DATA, as CI sets it); tests that need them skip without."""
    root = Path(os.environ.get("MEDTUNE_DATA", REPO.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"data root {root} not found: set MEDTUNE_DATA")
    return root


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory) -> Path:
    from tests.tiny_models import make_tiny_causal

    return make_tiny_causal(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    from tests.tiny_models import make_tiny_encoder

    return make_tiny_encoder(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture()
def db(tmp_path) -> Path:
    return tmp_path / "results.duckdb"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Partial-run files and the DB default never land in the repo during tests."""
    monkeypatch.setenv("MEDTUNE_DB", str(tmp_path / "default.duckdb"))
    cache = os.environ.get("MEDTUNE_CACHE")
    if cache is None:
        # keep the converted SmolLM2 checkpoint shared (it is expensive), everything else per test
        monkeypatch.setenv("MEDTUNE_CACHE", str(Path.home() / ".cache" / "medtune"))
