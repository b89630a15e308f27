"""medtune: evaluation and monitoring harness, with a tuning backend, for language models adapted to medicine.

``import medtune`` is the package's Python entry point (``python -m medtune`` runs the ``medtune`` command).
For now it carries the version; the public API (evaluate, tune, audit, gate) will live here.
The implementation lives in the ``harness``, ``tuning``, ``suites`` and ``dashboards`` packages.
"""

from harness import __version__

__all__ = ["__version__"]
