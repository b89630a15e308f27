"""Rubric suites (suite type ``rubric``): open-ended answers graded against criteria by a judge."""
