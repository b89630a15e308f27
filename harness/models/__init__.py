"""Model registry and backends. ``resolve`` a name to a ``ModelRef``, then ``load`` a backend."""

from harness.models.registry import BACKENDS, ModelRef, list_models, load, resolve

__all__ = ["BACKENDS", "ModelRef", "list_models", "load", "resolve"]
