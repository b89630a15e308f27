"""Monitoring: a deployed variant's traffic against what was measured before deployment (issue 26).

- ``ingest``: traffic logs (JSONL chat records, other layouts through a field mapping, Parquet) into the
  results DB, streamed in batches, idempotent, one transaction per file;
- ``features``: per-record features (lengths, language, refusal, PII, answer-collapse keys);
- ``analysis``: profiles per window, drift tests against a reference (eval suites, a window, a file), the
  nearest eval suites, sampled quality with CIs; ``embed``: MiniLM / hashed embeddings on seeded samples;
- ``policy`` + ``check``: alert rules judged per window, JUnit/Markdown reports (``medtune monitor check``).
"""

from harness.monitor.analysis import Analysis, Settings, analyse, save
from harness.monitor.check import CheckReport, run_check
from harness.monitor.ingest import ingest_files
from harness.monitor.mapping import TrafficMapping, load_mapping
from harness.monitor.policy import MonitorPolicy, load_policy

__all__ = ["Analysis", "CheckReport", "MonitorPolicy", "Settings", "TrafficMapping", "analyse", "ingest_files",
           "load_mapping", "load_policy", "run_check", "save"]
