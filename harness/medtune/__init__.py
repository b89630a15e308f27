"""medtune: evaluation and monitoring harness, with a tuning backend, for language models adapted to medicine.

``import medtune`` is the package's Python API (``python -m medtune`` runs the ``medtune`` command)::

    import medtune

    results = medtune.evaluate("smollm2-135m", ["medqa_usmle"], limit=20)   # list[RunResult]
    for r in results:
        print(r.suite, r.status, {m.name: m.value for m in r.metrics.values()})

- ``evaluate(variant, suites, **settings)``: ``medtune eval`` (``backend="mock"`` needs no model files);
- ``tune(recipe, overrides)``: ``medtune tune``;
- ``audit_leakage(variant, **settings)`` / ``audit_robustness(variant, suite, **settings)``: ``medtune audit``;
- ``gate(candidate, policy, baseline)``: ``medtune gate`` (returns the report; ``.passed``);
- ``register_backend(name, "module:Class")``: a model backend for ``backend=`` / ``--backend``.

``db`` and ``data_root`` default as on the command line (``MEDTUNE_DB``, ``MEDTUNE_DATA``). The
functions are imported on first use, so ``import medtune`` stays cheap. The implementation lives
in ``medtune.api`` and the ``harness``, ``tuning``, ``suites`` and ``dashboards`` packages.
"""

from harness import __version__

_API = {
    "evaluate": ".api", "tune": ".api", "audit_leakage": ".api", "audit_robustness": ".api", "gate": ".api",
    "RunResult": "harness.evaluate",
    "RunSettings": "harness.evaluate", "register_backend": "harness.models.registry",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'medtune' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
