"""The parser pool: its wire format, its caps, and its logic under a Clock."""

import io
import os
import sys

import pytest
from twisted.internet.defer import CancelledError
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure

from tests.fakes_parsing import FakeSpawn
from worker import parse_child
from worker.decoding import decode_html
from worker.extract import Image, Page, extract
from worker.parse_child import FrameError, decode_frame, encode_frame, read_frame
from worker.parsing import (
    BACKOFF_FIRST_SECONDS, CRASH_LOOP, ROOT, START_SECONDS, STOP_GRACE_SECONDS, ParseFailed,
    Parsed, ParserCrashed, ParserPool, ParserUnavailable, ParseTimeout, summarize,
)

PAGE = b'<img src="/a.png" alt="A"><img src="/b.png"><a href="/next">next</a>'
PARSED = Parsed([["http://a.test/a.png", ["img"], "A"], ["http://a.test/b.png", ["img"]]],
                ["http://a.test/next"], 2, 1, False)


def result(d):
    """What a Deferred fired with (a Failure for an error), or None if it has not."""
    box = []
    d.addBoth(lambda outcome: box.append(outcome) or outcome)
    return box[0] if box else None


def failure(d, kind):
    """The message of the C{kind} error C{d} failed with (the error is handled)."""
    outcome = result(d)
    assert isinstance(outcome, Failure), f"expected {kind.__name__}, got {outcome!r}"
    assert outcome.check(kind), outcome
    d.addErrback(lambda _: None)
    return str(outcome.value)


# --- framing ---------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    b"", b"\xff\xfe\x00\x80 not UTF-8 \xc3", bytes(range(256)) * (20 * 4096),
], ids=["empty", "non-utf8", "20MiB"])
def test_a_frame_round_trips(payload):
    header = {"url": "http://a.test/caf\u00e9", "content_type": None, "cap": 3}
    data = encode_frame(header, payload)
    assert decode_frame(data) == (header, payload, len(data))
    assert read_frame(io.BytesIO(data)) == (header, payload)


def test_a_partial_frame_decodes_to_nothing_until_it_is_whole():
    data = encode_frame({"ready": True}, b"body")
    assert all(decode_frame(data[:cut]) is None for cut in range(len(data)))
    header, payload, used = decode_frame(bytearray(data + data[:5]))
    assert (header, payload, used) == ({"ready": True}, b"body", len(data))


def test_frames_are_read_one_after_another_until_eof():
    stream = io.BytesIO(encode_frame({"n": 1}, b"x") + encode_frame({"n": 2}))
    assert [read_frame(stream), read_frame(stream), read_frame(stream)] == [
        ({"n": 1}, b"x"), ({"n": 2}, b""), None]


@pytest.mark.parametrize("cut", [3, 10, -1])
def test_a_stream_that_ends_inside_a_frame_is_an_error(cut):
    with pytest.raises(FrameError):
        read_frame(io.BytesIO(encode_frame({"n": 1}, b"body")[:cut]))


@pytest.mark.parametrize("header", [b"{not json", b"[1, 2]", b"\xff"])
def test_a_header_that_is_not_a_json_object_is_a_frame_error(header):
    data = len(header).to_bytes(4, "big") + (0).to_bytes(4, "big") + header
    with pytest.raises(FrameError):
        decode_frame(data)


# --- summarize -------------------------------------------------------------

def _page(images, links):
    return Page({f"http://a.test/{i}.png": Image(("img", "lazy"), "alt" if i % 2 else None)
                 for i in range(images)}, [f"http://a.test/p{i}" for i in range(links)])


def test_summarize_keeps_everything_under_the_cap():
    parsed = summarize(_page(2, 2), cap=2)
    assert parsed.images == [["http://a.test/0.png", ["img", "lazy"]],
                             ["http://a.test/1.png", ["img", "lazy"], "alt"]]
    assert parsed.links == ["http://a.test/p0", "http://a.test/p1"]
    assert (parsed.image_count, parsed.link_count, parsed.capped) == (2, 2, False)


@pytest.mark.parametrize("images, links", [(5, 1), (1, 5), (5, 5)])
def test_summarize_keeps_the_first_urls_and_counts_them_all(images, links):
    parsed = summarize(_page(images, links), cap=3)
    assert [image[0] for image in parsed.images] == [
        f"http://a.test/{i}.png" for i in range(min(images, 3))]
    assert parsed.links == [f"http://a.test/p{i}" for i in range(min(links, 3))]
    assert (parsed.image_count, parsed.link_count, parsed.capped) == (images, links, True)


# --- the child's loop ------------------------------------------------------

def test_the_child_answers_what_inline_parsing_gives():
    header = {"url": "http://a.test/", "content_type": "text/html", "cap": 100}
    expected = summarize(extract(decode_html(PAGE, "text/html"), "http://a.test/"), 100)
    assert parse_child.answer(header, PAGE) == {"parsed": vars(expected)} == {"parsed": vars(PARSED)}


def test_a_parser_exception_is_the_answer(monkeypatch):
    def broken(html, url):
        raise RecursionError("too deep")
    monkeypatch.setattr(parse_child, "extract", broken)
    header = {"url": "http://a.test/", "content_type": None, "cap": 1}
    assert parse_child.answer(header, b"<p>") == {"error": "RecursionError: too deep"}


def test_the_child_says_ready_then_answers_each_request_until_eof():
    header = {"url": "http://a.test/", "content_type": "text/html", "cap": 100}
    stdin = io.BytesIO(encode_frame(header, PAGE) + encode_frame(header, b""))
    stdout = io.BytesIO()
    parse_child.serve(stdin, stdout)
    replies = io.BytesIO(stdout.getvalue())
    assert read_frame(replies) == ({"ready": True}, b"")
    assert read_frame(replies)[0]["parsed"] == vars(PARSED)
    assert read_frame(replies)[0]["parsed"]["images"] == []
    assert read_frame(replies) is None


# --- the pool --------------------------------------------------------------

class Harness:
    def __init__(self, processes=2, timeout=10, max_urls=100):
        self.clock, self.spawn = Clock(), FakeSpawn()
        self.pool = ParserPool(self.clock, processes, timeout, max_urls, spawn=self.spawn)

    def start(self, ready=True):
        self.pool.startService()
        if ready:
            for process in self.spawn.alive():
                process.ready()
        return self

    def parse(self, n=0):
        return self.pool.parse(PAGE, "text/html", f"http://a.test/{n}")

    def urls(self, process):
        return [header["url"] for header, _ in process.requests()]

    @property
    def children(self):
        return self.spawn.processes


def test_start_spawns_the_children_with_the_child_module():
    h = Harness(processes=3).start(ready=False)
    assert len(h.children) == 3
    for process in h.children:
        assert process.executable == sys.executable
        assert process.args == [sys.executable, "-m", "worker.parse_child"]
        assert process.path == str(ROOT) and process.env == os.environ


def test_a_page_waits_for_a_ready_child_and_goes_with_its_type_and_cap():
    h = Harness(processes=1, max_urls=7).start(ready=False)
    d = h.parse()
    [child] = h.children
    assert child.requests() == []
    child.ready()
    assert child.requests() == [
        ({"url": "http://a.test/0", "content_type": "text/html", "cap": 7}, PAGE)]
    child.answer(PARSED)
    assert result(d) == PARSED


def test_each_child_takes_one_page_at_a_time_and_pages_wait_in_order():
    h = Harness(processes=2).start()
    first, second = h.children
    ds = [h.parse(n) for n in range(5)]
    assert (h.urls(first), h.urls(second)) == (["http://a.test/0"], ["http://a.test/1"])
    second.answer(PARSED)
    assert h.urls(second) == ["http://a.test/1", "http://a.test/2"]
    first.answer(PARSED)
    second.answer(PARSED)
    assert h.urls(first) == ["http://a.test/0", "http://a.test/3"]
    assert h.urls(second)[-1] == "http://a.test/4"
    assert [result(d) for d in ds] == [PARSED, PARSED, PARSED, None, None]


def test_an_answer_may_arrive_in_pieces():
    h = Harness(processes=1).start()
    d = h.parse()
    h.children[0].say({"parsed": vars(PARSED)}, chunk=3)
    assert result(d) == PARSED


def test_a_parser_exception_fails_only_that_page():
    h = Harness(processes=1).start()
    bad, good = h.parse(0), h.parse(1)
    h.children[0].say({"error": "ValueError: no"})
    assert failure(bad, ParseFailed) == "ValueError: no"
    h.children[0].answer(PARSED)
    assert result(good) == PARSED and len(h.children) == 1


def test_a_timeout_kills_only_that_child_fails_only_its_page_and_replaces_it():
    h = Harness(processes=2, timeout=10).start()
    first, second = h.children
    slow = h.parse(0)
    h.clock.advance(5)
    other = h.parse(1)
    with capturedLogs() as events:
        h.clock.advance(5)
    assert failure(slow, ParseTimeout) == "parsing took longer than 10 s"
    assert first.signals == ["KILL"] and second.signals == []
    assert any("http://a.test/0" in formatEvent(e) for e in events)
    assert result(other) is None
    second.answer(PARSED)
    assert result(other) == PARSED
    assert len(h.children) == 3
    first.answer(PARSED)            # too late: dropped
    first.end(signal=9)
    assert len(h.children) == 3


def test_the_timeout_runs_from_when_a_child_takes_the_page():
    h = Harness(processes=1, timeout=10).start()
    h.parse(0)
    queued = h.parse(1)
    h.clock.advance(9)
    h.children[0].answer(PARSED)
    h.clock.advance(9)
    h.children[0].answer(PARSED)
    assert result(queued) == PARSED and h.children[0].signals == []


@pytest.mark.parametrize("end, said", [
    ({"signal": 11}, "was killed by signal 11 (SIGSEGV)"), ({"status": 3}, "exited with status 3"),
])
def test_a_crash_fails_only_that_page_and_a_replacement_takes_the_queue(end, said):
    h = Harness(processes=2).start()
    first, second = h.children
    crashed, other, queued = h.parse(0), h.parse(1), h.parse(2)
    first.end(**end)
    assert failure(crashed, ParserCrashed) == f"the parser process {said}"
    assert result(other) is None and result(queued) is None
    replacement = h.children[2]
    replacement.ready()
    assert h.urls(replacement) == ["http://a.test/2"]
    second.answer(PARSED)
    assert result(other) == PARSED


def test_a_child_that_dies_while_idle_is_replaced_and_not_given_pages():
    h = Harness(processes=1).start()
    h.children[0].end(status=0)
    d = h.parse()
    assert h.children[0].requests() == []
    h.children[1].ready()
    h.children[1].answer(PARSED)
    assert result(d) == PARSED


def test_a_garbled_reply_kills_the_child_and_fails_its_page():
    h = Harness(processes=1).start()
    d = h.parse()
    h.children[0].protocol.childDataReceived(1, (5).to_bytes(4, "big") + bytes(4) + b"nope!")
    assert "broke the protocol" in failure(d, ParserCrashed)
    assert h.children[0].signals == ["KILL"] and len(h.children) == 2


def test_a_child_that_never_gets_ready_is_killed_and_replaced():
    h = Harness(processes=1).start(ready=False)
    d = h.parse()
    h.clock.advance(START_SECONDS)
    assert h.children[0].signals == ["KILL"] and len(h.children) == 2
    h.children[1].ready()
    h.children[1].answer(PARSED)
    assert result(d) == PARSED


def _die_at_start(h, times):
    for _ in range(times):
        h.spawn.last().end(status=1)


def test_children_dying_at_start_are_replaced_at_once_a_few_times():
    h = Harness(processes=1).start(ready=False)
    d = h.parse()
    _die_at_start(h, CRASH_LOOP - 1)
    assert len(h.spawn.alive()) == 1 and result(d) is None
    h.spawn.last().ready().answer(PARSED)
    assert result(d) == PARSED


def test_a_crash_loop_backs_off_logs_and_fails_the_waiting_pages():
    h = Harness(processes=1).start(ready=False)
    d = h.parse()
    with capturedLogs() as events:
        _die_at_start(h, CRASH_LOOP)
    assert h.spawn.alive() == [] and len(h.children) == CRASH_LOOP
    message = failure(d, ParserUnavailable)
    assert message == ("parser processes keep dying at start (5 in a row; "
                       "the last exited with status 1)")
    assert any(e["log_level"] == LogLevel.error and message in formatEvent(e) for e in events)
    assert failure(h.parse(), ParserUnavailable) == message
    h.clock.advance(BACKOFF_FIRST_SECONDS)
    assert len(h.spawn.alive()) == 1
    _die_at_start(h, 1)
    h.clock.advance(2 * BACKOFF_FIRST_SECONDS - 0.01)
    assert h.spawn.alive() == []
    h.clock.advance(0.01)
    h.spawn.last().ready()
    _die_at_start(h, 1)             # after a ready child, a death at start is a first
    assert len(h.spawn.alive()) == 1


def test_pages_wait_for_children_started_after_a_back_off():
    h = Harness(processes=1).start(ready=False)
    _die_at_start(h, CRASH_LOOP)
    h.clock.advance(BACKOFF_FIRST_SECONDS)
    d = h.parse()
    h.spawn.last().ready().answer(PARSED)
    assert result(d) == PARSED


def test_a_spawn_that_raises_counts_as_a_death_at_start():
    h = Harness(processes=2)
    h.spawn.error = OSError(24, "Too many open files")
    with capturedLogs():
        h.start()
    assert h.children == [] and len(h.clock.getDelayedCalls()) == 1
    assert "Too many open files" in failure(h.parse(), ParserUnavailable)
    h.spawn.error = None
    h.clock.advance(BACKOFF_FIRST_SECONDS)
    assert len(h.spawn.alive()) == 2


def test_stop_closes_stdin_fails_pending_pages_and_kills_after_a_grace_period():
    h = Harness(processes=2).start()
    first, second = h.children
    pages = [h.parse(n) for n in range(3)]
    stopped = h.pool.stopService()
    assert all("stopped" in failure(d, ParserUnavailable) for d in pages)
    assert first.stdin_closed and second.stdin_closed
    first.end()
    assert result(stopped) is None
    h.clock.advance(STOP_GRACE_SECONDS)
    assert first.signals == [] and second.signals == ["KILL"]
    second.end(signal=9)
    assert result(stopped) is not None and not isinstance(result(stopped), Failure)
    assert h.clock.getDelayedCalls() == [] and len(h.children) == 2
    assert "not running" in failure(h.parse(), ParserUnavailable)


def test_stop_also_waits_for_children_killed_before():
    h = Harness(processes=1, timeout=1).start()
    timed_out = h.parse()
    h.clock.advance(1)
    failure(timed_out, ParseTimeout)
    killed, replacement = h.children
    stopped = h.pool.stopService()
    replacement.end()
    assert result(stopped) is None
    killed.end(signal=9)
    assert result(stopped) is not None


def test_stop_cancels_a_pending_restart():
    h = Harness(processes=1).start(ready=False)
    _die_at_start(h, CRASH_LOOP)
    h.pool.stopService()
    assert h.clock.getDelayedCalls() == []


def test_a_cancelled_page_leaves_the_queue_and_a_cancelled_answer_is_dropped():
    h = Harness(processes=1).start()
    running, queued, last = h.parse(0), h.parse(1), h.parse(2)
    queued.cancel()
    running.cancel()
    failure(queued, CancelledError)
    failure(running, CancelledError)
    h.children[0].answer(PARSED)
    assert h.urls(h.children[0]) == ["http://a.test/0", "http://a.test/2"]
    h.children[0].answer(PARSED)
    assert result(last) == PARSED


def test_a_callback_that_stops_the_pool_does_not_reuse_the_child():
    h = Harness(processes=1).start()
    d = h.parse(0)
    queued = h.parse(1)
    d.addCallback(lambda _: h.pool.stopService())
    h.children[0].answer(PARSED)
    assert "stopped" in failure(queued, ParserUnavailable)
    assert h.urls(h.children[0]) == ["http://a.test/0"]


def test_what_a_child_writes_to_stderr_is_logged():
    h = Harness(processes=1).start()
    with capturedLogs() as events:
        h.children[0].stderr("Traceback: oops\n")
    [event] = events
    assert event["log_level"] == LogLevel.warn
    assert formatEvent(event) == "parser process 1001: Traceback: oops"
