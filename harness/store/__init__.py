"""The versioned DuckDB store. Dashboards read only this schema; they import nothing else.

The store owns every table: typed records (``records``), named-column writes, and one module of
reads/writes per area (``runs``, ``variants``, ``forgetting``, ``gate``, ``leakage``, ``robustness``).
"""

from harness.store.db import Store, SCHEMA_VERSION

__all__ = ["Store", "SCHEMA_VERSION"]
