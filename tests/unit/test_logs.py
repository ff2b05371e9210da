"""Unit tests for common.logs: the JSON and text lines, and the level filter."""

import io
import json
import re

import pytest
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from common import logs
from common.config import ConfigError, from_env



def logger(level="info", fmt="json", process="api"):
    stream = io.StringIO()
    observer = logs.filtered(level, fmt, process, stream)
    return Logger(namespace="api.resources", observer=observer), stream


def records(stream):
    lines = stream.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def test_json_is_one_flat_object_a_line_with_the_fields():
    log, stream = logger()
    log.info("job {job} created: {n} start URL(s)", event="job.created", job="abc", n=2,
             url="http://example.test/", options={"max_depth": 1, "scope": "host"})
    log.info("worker {worker} joined", event="worker.joined", worker="w1")
    first, second = records(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first.pop("time"))
    assert first == {
        "level": "info", "process": "api",
        "system": "api.resources", "event": "job.created",
        "message": "job abc created: 2 start URL(s)",
        "job": "abc", "n": 2, "url": "http://example.test/",
        "options": {"max_depth": 1, "scope": "host"},
    }
    assert list(first)[:5] == ["level", "process", "system", "event", "message"]
    assert second["event"] == "worker.joined" and second["worker"] == "w1"
    assert stream.getvalue().count("\n") == 2


def test_json_leaves_objects_to_the_message_and_keeps_fixed_fields():
    log, stream = logger()
    log.warn("ignored a bad notice: {e}", e=ValueError("nope"), message="not mine", time=3)
    (record,) = records(stream)
    assert record["message"] == "ignored a bad notice: nope"
    assert record["level"] == "warn"
    assert "e" not in record
    assert record["event"] == "api.resources", "without an event name, the module that logged"


def test_json_line_of_a_failure_has_the_error_and_the_traceback():
    log, stream = logger()
    try:
        1 / 0
    except ZeroDivisionError:
        log.failure("request {method} failed", method="GET")
    (record,) = records(stream)
    assert record["level"] == "critical"
    assert record["error"] == "ZeroDivisionError: division by zero"
    assert record["message"].startswith("request GET failed\nTraceback")
    assert "\n" not in stream.getvalue().rstrip("\n"), "still one line"


def test_times_are_utc_with_milliseconds():
    assert logs.iso_time(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
    assert logs.iso_time(0) == "1970-01-01T00:00:00.000Z"


def test_text_is_a_short_line():
    log, stream = logger(fmt="text")
    log.info("job {job} created", event="job.created", job="abc")
    line = stream.getvalue()
    clock, level, system, message = line.split(None, 3)
    assert len(clock) == len("12:00:01.234") and clock[2] == ":" and clock[8] == "."
    assert (level, system, message) == ("info", "api.resources", "job abc created\n")


@pytest.mark.parametrize(("level", "shown"), [
    ("debug", ["debug", "info", "warn", "error"]),
    ("info", ["info", "warn", "error"]),
    ("warn", ["warn", "error"]),
    ("error", ["error"]),
])
def test_level_filter(level, shown):
    log, stream = logger(level=level)
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    assert [r["level"] for r in records(stream)] == shown


def test_twisted_factory_chatter_is_dropped():
    log, stream = logger()
    log.info("Starting factory {f}", f="x")
    log.info("kept")
    assert [r["message"] for r in records(stream)] == ["kept"]


def test_log_format_setting():
    assert from_env({}).log_format == "text"
    assert from_env({"LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT must be text or json"):
        from_env({"LOG_FORMAT": "xml"})


def test_the_roster_logs_workers_joining_and_leaving(monkeypatch):
    from api import roster

    stream = io.StringIO()
    monkeypatch.setattr(roster, "log", Logger(namespace="api.roster",
                                              observer=logs.filtered("info", "json", "api", stream)))
    pool = roster.Roster()
    assert pool.update(["w2", "w1"]) == (["w1", "w2"], [])
    assert pool.update(["w1", "w2"]) == ([], [])
    assert pool.update(["w1", "w3"]) == (["w3"], ["w2"])
    assert [(r["event"], r["worker"], r["workers"]) for r in records(stream)] == [
        ("worker.joined", "w1", 2), ("worker.joined", "w2", 2),
        ("worker.joined", "w3", 2), ("worker.left", "w2", 2)]


def test_the_store_lists_the_workers_whose_heartbeat_holds():
    from tests.fakes import FakeStore

    store = FakeStore()
    store.clock.advance(1000)
    store.heartbeat("w1", 6, 8)
    store.heartbeat("w2", 1, 8)
    store.heartbeat("w3", 0, 8)  # said goodbye
    store.clock.advance(2)
    live = []
    ensureDeferred(store.live_workers()).addCallback(live.extend)
    assert live == ["w1"]
