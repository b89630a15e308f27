"""`medtune monitor ingest`: layouts, idempotence, bad lines (file:line, nothing loaded), --skip-bad, Parquet,
field mappings, compressed logs."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import DataError
from harness.monitor.ingest import ingest_files
from harness.monitor.mapping import load_mapping
from harness.store import Store
from tests.harness.clihelp import run_cli
from tests.monitor.helpers import chat, write_jsonl


def rows(db, sql="SELECT count(*) FROM traffic"):
    return Store(db).query(sql)


def test_default_layouts_and_features(tmp_path, capsys, db):
    log = write_jsonl(tmp_path / "traffic.jsonl", [
        chat(0),
        # an OpenAI API response, content as a list of parts, Unix milliseconds, feedback as an object
        {"created": 1796119200000, "model": "m",
         "messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user",
                       "content": [{"type": "text", "text": "¿Cuáles son los efectos de la metformina?"}]}],
         "choices": [{"message": {"role": "assistant", "content": "I'm sorry, but I can't provide that."}}],
         "feedback": {"thumbs": "down"}},
        # the assistant's answer as the last message; PII in it
        {"timestamp": "2026-12-01T12:00:00+02:00", "messages": [
            {"role": "user", "content": "What is my record number?"},
            {"role": "assistant", "content": "Your MRN: 12345678, call (555) 123-4567."}], "feedback": True},
        "",  # blank lines are skipped
    ])
    code, out, err = run_cli(capsys, "monitor", "ingest", str(log), "--variant", "v1", "--db", str(db))
    assert code == 0, err
    assert "3 records added" in " ".join(out.split())
    df = rows(db, "SELECT * FROM traffic ORDER BY ts")
    assert list(df["variant"].unique()) == ["v1"] and len(df) == 3
    by_prompt = {p.split(" (")[0]: r for p, r in zip(df["prompt"], df.itertuples())}
    spanish = by_prompt["¿Cuáles son los efectos de la metformina?"]
    assert spanish.language == "es" and spanish.refusal and spanish.feedback == 0.0 and spanish.model == "m"
    pii = by_prompt["What is my record number?"]
    assert pii.pii_kinds == "mrn,phone" and pii.pii_count == 2 and pii.feedback == 1.0
    assert str(pii.ts) == "2026-12-01 10:00:00"  # converted to UTC
    first = by_prompt["What is the usual dose of metformin?"]
    assert first.first_token == "usually" and first.language == "en" and not first.refusal and pd_isna(first.feedback)
    files = rows(db, "SELECT * FROM traffic_files")
    assert files.loc[0, "n_added"] == 3 and files.loc[0, "format"] == "jsonl" and len(files.loc[0, "file_sha256"]) == 64


def pd_isna(x) -> bool:
    return x is None or x != x


def test_reingest_adds_nothing_and_overlap_adds_only_new_records(tmp_path, capsys, db):
    first = write_jsonl(tmp_path / "a.jsonl", [chat(i) for i in range(5)])
    assert run_cli(capsys, "monitor", "ingest", str(first), "--variant", "v1", "--db", str(db))[0] == 0
    code, out, _ = run_cli(capsys, "monitor", "ingest", str(first), "--variant", "v1", "--db", str(db))
    out = " ".join(out.split())
    assert code == 0 and "already ingested" in out and "nothing added" in out
    rotated = write_jsonl(tmp_path / "b.jsonl", [chat(i) for i in range(3, 8)])  # 2 records seen, 3 new
    code, out, _ = run_cli(capsys, "monitor", "ingest", str(rotated), "--variant", "v1", "--db", str(db))
    assert code == 0 and "3 records added (2 already stored)" in " ".join(out.split())
    assert rows(db).iloc[0, 0] == 8
    # the same file for another variant is that variant's traffic
    assert run_cli(capsys, "monitor", "ingest", str(first), "--variant", "v2", "--db", str(db))[0] == 0
    assert rows(db, "SELECT variant, count(*) AS n FROM traffic GROUP BY 1 ORDER BY 1")["n"].tolist() == [8, 5]


def test_bad_line_refuses_every_file_and_names_file_line_field(tmp_path, capsys, db):
    good = write_jsonl(tmp_path / "good.jsonl", [chat(i) for i in range(3)])
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat(0), chat(1), {**chat(2), "timestamp": "yesterday"}, chat(3)])
    code, out, err = run_cli(capsys, "monitor", "ingest", str(good), str(bad), "--variant", "v1", "--db", str(db))
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(" ".join(lines).split("error: ")) == 2  # one error
    text = " ".join(err.split())
    assert f"{bad}:3: field timestamp: 'yesterday' is not an ISO 8601 time" in text and "nothing loaded" in text
    assert rows(db).iloc[0, 0] == 0 and rows(db, "SELECT count(*) FROM traffic_files").iloc[0, 0] == 0
    assert not list(tmp_path.glob(".medtune-ingest-*")) and not list(db.parent.glob(".medtune-ingest-*"))
    # malformed JSON, a missing response, an unknown feedback word: each names its line and field
    for record, needle in [('{"timestamp": "2026-12-01T10:00:00Z", "messages": [', "bad2.jsonl:2: malformed JSON"),
                           ({"timestamp": "2026-12-01T10:00:00Z", "messages": [{"role": "user", "content": "q"}]},
                            "bad2.jsonl:2: field response: missing"),
                           ({**chat(9), "feedback": "meh"}, "bad2.jsonl:2: field feedback: 'meh' is not feedback")]:
        path = write_jsonl(tmp_path / "bad2.jsonl", [chat(8), record])
        code, _, err = run_cli(capsys, "monitor", "ingest", str(path), "--variant", "v1", "--db", str(db))
        assert code == 2 and needle in " ".join(err.split()), err


def test_skip_bad_loads_the_good_lines_and_reports_the_bad(tmp_path, capsys, db):
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat(0), "not json", chat(1), {"messages": []}, chat(2)])
    code, out, err = run_cli(capsys, "monitor", "ingest", str(bad), "--variant", "v1", "--db", str(db), "--skip-bad")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "3 records added" in flat and "2 bad line(s) skipped" in flat
    assert f"{bad}:2: malformed JSON" in flat and f"{bad}:4: field timestamp: missing" in flat
    files = rows(db, "SELECT n_skipped, skipped FROM traffic_files")
    assert files.loc[0, "n_skipped"] == 2 and json.loads(files.loc[0, "skipped"])[0]["line"] == 2


def test_parquet_with_nested_columns(tmp_path, db):
    recs = [chat(i, feedback=1 if i % 2 else 0) for i in range(6)]
    path = tmp_path / "traffic.parquet"
    pq.write_table(pa.Table.from_pylist(recs), path)
    res = ingest_files(Store(db), [path], "v1", batch=4)  # several batches
    assert res[0].format == "parquet" and res[0].n_added == 6
    assert rows(db, "SELECT avg(feedback) AS f FROM traffic")["f"][0] == 0.5
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([chat(0), {**chat(1), "timestamp": "later"}]), bad)
    with pytest.raises(DataError, match=r"bad\.parquet:2: field timestamp"):
        ingest_files(Store(db), [bad], "v1")


def test_field_mapping_from_a_file_and_the_command_line(tmp_path, capsys, db):
    recs = [{"logged_at": 1796119200 + 60 * i,
             "request": {"turns": [{"text": "hello"}, {"text": f"q{i} about asthma"}]},
             "output": {"text": "Use the inhaler as prescribed."}, "rating": {"stars": 4}, "rid": f"r{i}"}
            for i in range(4)]
    log = write_jsonl(tmp_path / "custom.jsonl", recs)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("timestamp: logged_at\nprompt: request.turns.-1.text\nresponse: output.text\nid: rid\n")
    code, out, err = run_cli(capsys, "monitor", "ingest", str(log), "--variant", "v1", "--db", str(db),
                             "--mapping", str(mapping), "--field", "feedback=rating.stars")
    assert code == 0, err
    df = rows(db, "SELECT prompt, response, feedback FROM traffic ORDER BY ts")
    assert df["prompt"].tolist()[0] == "q0 about asthma" and set(df["feedback"]) == {4.0}
    assert json.loads(rows(db, "SELECT mapping FROM traffic_files")["mapping"][0])["feedback"] == "rating.stars"
    # a template, and a path that is not there: file:line and the field
    m = load_mapping(pairs={"prompt": "{{ request.turns[1].text }} (asked)", "response": "output.missing",
                            "timestamp": "logged_at"})
    with pytest.raises(DataError, match=r"custom\.jsonl:1: field response: 'output\.missing' is missing"):
        ingest_files(Store(db), [log], "v2", m)
    bad_map = tmp_path / "bad_map.yaml"
    bad_map.write_text("timestamp: logged_at\nprompts: request.text\n")
    code, _, err = run_cli(capsys, "monitor", "ingest", str(log), "--variant", "v1", "--db", str(db),
                           "--mapping", str(bad_map))
    assert code == 2 and f"{bad_map}:2: prompts: unknown key" in " ".join(err.split())
    code, _, err = run_cli(capsys, "monitor", "ingest", str(log), "--variant", "v1", "--db", str(db),
                           "--field", "question=x")
    assert code == 2 and "unknown field 'question'" in err


def test_template_mapping_and_compressed_logs(tmp_path, db):
    import zstandard

    lines = "".join(json.dumps({"ts": f"2026-12-0{i + 1}T08:00:00Z", "q": {"title": "Dose", "body": f"b{i}"},
                                "a": "Take 1 tablet."}) + "\n" for i in range(3))
    path, zst = tmp_path / "t.jsonl.gz", tmp_path / "u.jsonl.zst"
    path.write_bytes(gzip.compress(lines.encode()))
    zst.write_bytes(zstandard.ZstdCompressor().compress(lines.replace("Take", "Use").encode()))
    m = load_mapping(pairs={"prompt": "{{ q.title }}: {{ q.body }}", "response": "a"})
    res = ingest_files(Store(db), [path, zst], "v1", m)
    assert [r.n_added for r in res] == [3, 3]
    assert rows(db, "SELECT prompt FROM traffic ORDER BY ts")["prompt"].tolist()[0] == "Dose: b0"


def test_missing_file_and_folder_are_one_line_errors(tmp_path, capsys, db):
    code, _, err = run_cli(capsys, "monitor", "ingest", str(tmp_path / "nope.jsonl"), "--variant", "v1",
                           "--db", str(db))
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(capsys, "monitor", "ingest", str(tmp_path), "--variant", "v1", "--db", str(db))
    assert code == 2 and "is a folder" in err
