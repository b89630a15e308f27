"""Where things live: the data root, the results DB, the model cache.

Each comes from a CLI option, else an environment variable, else a default:
- data root: ``--data-root`` / ``MEDTUNE_DATA`` / ``../shared/data`` if it exists, else ``./data``
- results DB: ``--db`` / ``MEDTUNE_DB`` / ``./medtune.duckdb``
- cache (converted models, partial runs): ``MEDTUNE_CACHE`` / ``~/.cache/medtune``
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import MedtuneError


def data_root(explicit: str | Path | None = None, must_exist: bool = True) -> Path:
    if explicit is not None and not str(explicit).strip():
        raise MedtuneError(f"--data-root {str(explicit)!r}: expected a folder (leave it out for MEDTUNE_DATA)")
    raw = explicit or os.environ.get("MEDTUNE_DATA")
    if raw:
        root = Path(raw).expanduser()
    else:
        root = Path("../shared/data") if Path("../shared/data").is_dir() else Path("data")
    if must_exist and not root.is_dir():
        raise MedtuneError(
            f"data root {root} does not exist: pass --data-root DIR or set MEDTUNE_DATA "
            "to the folder holding the datasets (see README)"
        )
    return root.resolve() if root.exists() else root


def db_path(explicit: str | Path | None = None) -> Path:
    if explicit is not None and not str(explicit).strip():  # `--db ''`: never the default file in disguise
        raise MedtuneError(f"--db {str(explicit)!r}: expected a file path (leave --db out for MEDTUNE_DB or "
                           "./medtune.duckdb)")
    raw = explicit or os.environ.get("MEDTUNE_DB") or "medtune.duckdb"
    return Path(raw).expanduser().resolve()


def cache_dir() -> Path:
    raw = os.environ.get("MEDTUNE_CACHE") or Path.home() / ".cache" / "medtune"
    path = Path(raw).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline_defaults() -> None:
    """Analytics off everywhere; hubs are used only when reachable and asked for."""
    os.environ.setdefault("GSK_DISABLE_ANALYTICS", "True")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # bitsandbytes warns at import that it cannot fetch an optional CPU kernel from the hub: nothing to act on
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:  # "Loading weights" bars and length warnings are noise next to our own progress bars
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
