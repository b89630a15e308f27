"""medtune harness: scores model variants on suites and records everything in DuckDB.

Public surface:
- ``harness.contract``: the narrow model contract (request types, the LM protocol).
- ``harness.models``: resolve a name/path/hub id/adapter to a loaded model backend.
- ``harness.engine``: run a suite against a backend, producing per-sample records and metrics.
- ``harness.store``: the versioned DuckDB schema, writes and reads.
"""

__version__ = "0.1.0"
