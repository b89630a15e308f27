"""The endpoint judge against a real chat-completions server on 127.0.0.1: correct, malformed, slow, failing."""

import socket

import pytest

from harness.errors import MedtuneError
from harness.judge import Item, configure, grade, make_judge, parse_reply
from harness.store import Store
from tests.judge.loopback import Loopback, expected_met

CONV = ({"role": "user", "content": "Chest pain for 20 minutes, what do I do?"},)
ITEMS = [Item(CONV, "Call emergency services now.", c, p) for c, p in
         [("Advises calling emergency services", 10), ("Names a heart attack as possible", 5),
          ("Suggests waiting it out", -10), ("Is brief", 2)]]


def test_parse_is_strict():
    assert parse_reply('{"met": true, "reason": "ok"}') == (True, "ok")
    assert parse_reply('```json\n{"met": false, "reason": "no"}\n```') == (False, "no")
    for bad in ['met: true', '{"met": "yes", "reason": "x"}', 'Sure! {"met": true, "reason": "x"}',
                '{"met": true, "reason": 3}', '[true]', '', None, '{"met": true']:
        assert parse_reply(bad) is None, bad


def test_correct_replies_graded_with_bounded_concurrency():
    with Loopback("ok", delay_s=0.05) as srv:
        configure(concurrency=2)
        verdicts = grade(make_judge(srv.url, "judge-x"), ITEMS)
    assert [v.met for v in verdicts] == [expected_met(i.criterion) for i in ITEMS]
    assert srv.calls == 4 and srv.max_in_flight <= 2 and set(srv.models) == {"judge-x"}


def test_malformed_reply_is_retried_then_judge_failed():
    with Loopback("malformed_once") as srv:
        verdicts = grade(make_judge(srv.url), ITEMS)
    assert all(not v.failed for v in verdicts) and srv.calls == 8 and all(v.attempts == 2 for v in verdicts)
    with Loopback("malformed") as srv:
        configure(retries=2)
        verdicts = grade(make_judge(srv.url), ITEMS[:2])
    assert all(v.failed and v.met is None for v in verdicts) and srv.calls == 6  # never guessed
    assert "judge_failed after 3 attempt(s)" in verdicts[0].reason and verdicts[0].to_dict()["judge_failed"]


def test_failing_and_slow_calls_are_retried_with_backoff():
    with Loopback("fail_once") as srv:
        verdicts = grade(make_judge(srv.url), ITEMS[:2])
    assert [v.met for v in verdicts] == [expected_met(i.criterion) for i in ITEMS[:2]] and srv.calls == 4
    with Loopback("slow_once", slow_s=0.6) as srv:
        configure(timeout=0.2)
        verdicts = grade(make_judge(srv.url), ITEMS[:1])
    assert not verdicts[0].failed and srv.calls == 2  # the timed-out call asked again
    with Loopback("bad_body") as srv:
        configure(retries=1)
        assert grade(make_judge(srv.url), ITEMS[:1])[0].failed


def test_endpoint_down_is_one_clear_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    judge = make_judge(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(MedtuneError, match="not reachable") as e:
        judge.check()
    assert "\n" not in str(e.value)
    with pytest.raises(MedtuneError, match="not reachable"):
        configure(retries=1)
        grade(judge, ITEMS[:1])


def test_api_key_from_env_never_in_the_id(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-secret")
    with Loopback("ok") as srv:
        configure(key_env="MY_JUDGE_KEY")
        judge = make_judge(srv.url, "m")
        store = Store(tmp_path / "k.duckdb")
        grade(judge, ITEMS[:1], store=store)
    assert srv.headers[0]["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in judge.id and judge.id == f"{srv.url}|m"
    dump = store.query("SELECT * FROM judge_cache").to_csv()
    assert "sk-secret" not in dump
    monkeypatch.delenv("MY_JUDGE_KEY")
    with pytest.raises(MedtuneError, match="MY_JUDGE_KEY"):
        grade(make_judge(srv.url, "m"), ITEMS[1:2])


def test_cache_answers_the_second_time(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    with Loopback("ok") as srv:
        first = grade(make_judge(srv.url), ITEMS, store=store)
        again = grade(make_judge(srv.url), ITEMS, store=store)
    assert srv.calls == 4 and all(v.cached for v in again) and [v.met for v in again] == [v.met for v in first]
    with Loopback("ok") as other:  # another endpoint is another judge: asked afresh
        grade(make_judge(other.url), ITEMS[:1], store=store)
    assert other.calls == 1
