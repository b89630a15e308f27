"""`medtune suites --check` reads each selected suite's data: CI's early, named failure for a missing data root."""

from __future__ import annotations

import json

from tests.harness.clihelp import run_cli


def test_check_counts_the_documents_of_the_selected_suites(capsys, data_root):
    code, out, _ = run_cli(capsys, "suites", "--check", "--suite", "pubmedqa", "--suite", "mmlu_medical",
                           "--format", "json", "--data-root", str(data_root))
    rows = {r["suite"]: r["documents"] for r in json.loads(out)}
    assert code == 0 and rows == {"pubmedqa": 500, "mmlu_medical": 1089}


def test_check_names_what_is_missing_and_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "suites", "--check", "--suite", "medqa_usmle", "--data-root", str(tmp_path))
    assert code == 2 and "medqa_usmle/test.jsonl" in err and "not found" in err


def test_the_listing_fits_80_columns_without_cutting_a_name():
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "medtune", "suites"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "80"}).stdout
    assert "medqa_usmle" in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
