"""medtune harness: scores model variants on suites and records everything in DuckDB.

Public surface:
- ``harness.contract``: the narrow model contract (request types, the LM protocol).
- ``harness.models``: resolve a name/path/hub id/adapter to a loaded model backend.
- ``harness.engine``: run a suite against a backend, producing per-sample records and metrics.
- ``harness.store``: the versioned DuckDB schema, writes and reads.
"""


def _version() -> str:
    """The one version: the installed ``medtune`` distribution's, else pyproject.toml's next to this checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("medtune")
    except PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"


def __getattr__(name: str):
    # computed on first use: importlib.metadata costs ~0.1 s, and most imports of harness never ask
    if name == "__version__":
        globals()["__version__"] = version = _version()
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
