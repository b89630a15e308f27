"""Model registry and backends. ``resolve`` a name to a ``ModelRef``, then ``load`` a backend.

Backends are registered by name (``hf-causal``, ``hf-encoder``, ``mock``); ``register_backend``
adds one.
"""

from harness.models.registry import (BACKENDS, DEFAULT_BACKENDS, ModelRef, backend_name, check_backend, list_models,
                                     load, register_backend, resolve)

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "ModelRef", "backend_name", "check_backend", "list_models", "load",
           "register_backend", "resolve"]
