"""NER suites: CoNLL token files scored by entity-level strict F1 (see suites/_types/ner.py)."""
