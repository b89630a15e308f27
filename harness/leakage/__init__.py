"""Leakage audit: can a variant's scores be trusted, and what did it memorise?

- ``contamination``: every suite item against the variant's (and ancestors') training text:
  normalised n-gram overlap (GPT-3 / lm-eval, 13-grams) and MinHash LSH near-duplicates;
  ``clean_metrics`` re-reports each suite on its uncontaminated items; ``split_overlap`` checks
  a suite's own splits against each other.
- ``membership``: Min-K% Prob and Min-K%++ scores, AUROC on member vs held-out texts.
- ``exposure``: planted canaries (``tuning.canaries``): exposure and greedy reproduction; ``pii`` scan.
- ``audit.run_audit`` runs them all for ``medtune audit leakage``; ``report`` stores and prints.
"""

from harness.leakage.audit import Audit, Settings, run_audit
from harness.leakage.contamination import clean_metrics, contamination, split_overlap, suite_items
from harness.leakage.index import ContaminationIndex, Item

__all__ = ["Audit", "ContaminationIndex", "Item", "Settings", "clean_metrics", "contamination", "run_audit",
           "split_overlap", "suite_items"]
