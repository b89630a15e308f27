"""The versioned DuckDB store. Dashboards read only this schema; they import nothing else."""

from harness.store.db import Store, SCHEMA_VERSION

__all__ = ["Store", "SCHEMA_VERSION"]
