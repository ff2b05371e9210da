"""Unit tests for common.messages: the task and notice formats on the wire."""

import json

import pytest

from common.messages import (
    BadMessage, Task, decode_notice, decode_task, encode_notice, encode_task, is_job_id,
)

JOB = "0123456789abcdef0123456789abcdef"


# --- is_job_id ------------------------------------------------------------------


@pytest.mark.parametrize("text", [JOB, "a" * 32, "0" * 32, "f" * 32])
def test_job_ids(text):
    assert is_job_id(text)


@pytest.mark.parametrize("text", [
    "", "a" * 31, "a" * 33, JOB.upper(), "g" * 32, JOB[:-1] + "\n", JOB + "\n",
    "../" + JOB[3:], JOB[:16] + "-" + JOB[17:], " " + JOB[1:], None, 12, b"a" * 32,
    ["a" * 32],
])
def test_not_job_ids(text):
    assert not is_job_id(text)


# --- tasks ------------------------------------------------------------------------


@pytest.mark.parametrize("task", [
    Task(JOB, "http://example.com/", 0),
    Task(JOB, "https://example.com/a?b=c&d=%20", 3, 2),
    Task(JOB, "http://xn--bcher-kva.example/\u00e9", 100, 0),
])
def test_task_round_trip(task):
    raw = encode_task(task)
    assert isinstance(raw, bytes)
    assert decode_task(raw) == task


def test_task_encoding_is_small_json_with_the_five_fields():
    raw = encode_task(Task(JOB, "http://example.com/", 1, 2, 77))
    assert json.loads(raw) == {"job": JOB, "url": "http://example.com/", "depth": 1, "attempt": 2,
                               "lease": 77}
    assert b" " not in raw
    assert decode_task(raw) == Task(JOB, "http://example.com/", 1, 2, 77)


@pytest.mark.parametrize("lease", [-1, "7", 1.5, True, None])
def test_a_bad_lease_token_is_refused(lease):
    raw = json.dumps({"job": JOB, "url": "http://example.com/", "depth": 0, "lease": lease})
    with pytest.raises(BadMessage):
        decode_task(raw.encode())


def test_task_attempt_defaults_to_one():
    assert Task(JOB, "http://example.com/", 0).attempt == 1
    raw = json.dumps({"job": JOB, "url": "http://example.com/", "depth": 0}).encode()
    assert decode_task(raw).attempt == 1


def test_task_is_hashable_and_frozen():
    task = Task(JOB, "http://example.com/", 0)
    assert {task: 1}[Task(JOB, "http://example.com/", 0)] == 1
    with pytest.raises(AttributeError):
        task.depth = 2


def test_decode_task_accepts_text_and_extra_fields():
    raw = json.dumps({"job": JOB, "url": "http://e.com/", "depth": 0, "extra": 1})
    assert decode_task(raw) == Task(JOB, "http://e.com/", 0)


def message(**changes):
    base = {"job": JOB, "url": "http://example.com/", "depth": 0, "attempt": 1}
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


@pytest.mark.parametrize(("raw", "says"), [
    (b"", "not JSON"),
    (b"{", "not JSON"),
    (b"job=1", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[]", "not a JSON object"),
    (b'"task"', "not a JSON object"),
    (b"1", "not a JSON object"),
    (b"null", "not a JSON object"),
    (message(job=...), "bad job id"),
    (message(job="x" * 32), "bad job id"),
    (message(job=JOB.upper()), "bad job id"),
    (message(job=1), "bad job id"),
    (message(job="../../etc"), "bad job id"),
    (message(url=...), "bad url"),
    (message(url=None), "bad url"),
    (message(url=7), "bad url"),
    (message(url="ftp://example.com/"), "bad url"),
    (message(url="example.com/"), "bad url"),
    (message(url="javascript:alert(1)"), "bad url"),
    (message(url="http://example.com/a b"), "bad url"),
    (message(depth=...), "bad depth"),
    (message(depth=-1), "bad depth"),
    (message(depth=True), "bad depth"),
    (message(depth=False), "bad depth"),
    (message(depth=1.0), "bad depth"),
    (message(depth="1"), "bad depth"),
    (message(depth=None), "bad depth"),
    (message(attempt=-1), "bad attempt"),
    (message(attempt=True), "bad attempt"),
    (message(attempt="2"), "bad attempt"),
    (message(attempt=None), "bad attempt"),
])
def test_bad_tasks(raw, says):
    with pytest.raises(BadMessage) as info:
        decode_task(raw)
    assert says in str(info.value)


def test_bad_message_is_a_value_error():
    assert issubclass(BadMessage, ValueError)


# --- notices ---------------------------------------------------------------------


@pytest.mark.parametrize("admitted", [0, 1, 250, -1, -2])
def test_notice_round_trip(admitted):
    raw = encode_notice(JOB, admitted)
    assert isinstance(raw, bytes)
    assert json.loads(raw) == {"job": JOB, "admitted": admitted}
    assert decode_notice(raw) == (JOB, admitted)


@pytest.mark.parametrize("raw", [
    b"not json",
    b"[1, 2]",
    b"{}",
    json.dumps({"job": JOB}).encode(),
    json.dumps({"admitted": 1}).encode(),
    json.dumps({"job": "nope", "admitted": 1}).encode(),
    json.dumps({"job": JOB, "admitted": "1"}).encode(),
    json.dumps({"job": JOB, "admitted": 1.5}).encode(),
    json.dumps({"job": JOB, "admitted": True}).encode(),
    json.dumps({"job": JOB, "admitted": None}).encode(),
])
def test_bad_notices(raw):
    with pytest.raises(BadMessage):
        decode_notice(raw)
