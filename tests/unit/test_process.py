"""
common.process: a fatal error is logged with its traceback, stops the
reactor and makes the process exit 1, whether it comes from a dead loop or
from a service that cannot start.  Driven with MemoryReactorClock.
"""

import errno

import pytest
import zmq
from twisted.application.service import Service
from twisted.internet.defer import succeed
from twisted.internet.error import ReactorNotRunning
from twisted.internet.task import LoopingCall
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, capturedLogs, eventAsText
from twisted.python.failure import Failure

from common import process
from common.process import Fatal, Sequence, run, start


class Broken(Service):
    """Fails to start the way the dispatcher does when its port is taken."""

    def startService(self):
        super().startService()
        raise zmq.ZMQError(errno.EADDRINUSE)


class Recording(Service):
    def __init__(self, name, stopped):
        self.setName(name)
        self._stopped = stopped

    def stopService(self):
        super().stopService()
        self._stopped.append(self.name)


def failure(message="boom"):
    try:
        raise ValueError(message)
    except ValueError:
        return Failure()


def critical_texts(events):
    return [eventAsText(e) for e in events if e["log_level"] == LogLevel.critical]


def test_fatal_logs_the_traceback_stops_the_reactor_and_sets_status_1():
    reactor = MemoryReactorClock()
    fatal = Fatal(reactor)
    with capturedLogs() as events:
        fatal(failure(), "the dispatch round")
    [text] = critical_texts(events)
    assert "the dispatch round failed" in text
    assert "Traceback" in text and "ValueError: boom" in text
    assert reactor.hasStopped
    assert fatal.exit_status == 1


def test_a_second_fatal_error_while_stopping_is_logged_too():
    class StopsOnce(MemoryReactorClock):
        def stop(self):
            if self.hasStopped:
                raise ReactorNotRunning()
            super().stop()

    fatal = Fatal(StopsOnce())
    with capturedLogs() as events:
        fatal(failure("first"), "the reaper")
        fatal(failure("second"), "the heartbeat")
    assert len(critical_texts(events)) == 2
    assert fatal.exit_status == 1


def test_watch_makes_a_dead_looping_call_fatal():
    reactor = MemoryReactorClock()
    calls = []

    def beat():
        calls.append(reactor.seconds())
        if len(calls) == 2:
            raise ValueError("heartbeat write failed")

    loop = LoopingCall(beat)
    loop.clock = reactor
    fatal = Fatal(reactor)
    with capturedLogs() as events:
        watched = fatal.watch(loop.start(5, now=True), "the heartbeat")
        assert not reactor.hasStopped
        reactor.advance(5)
    [text] = critical_texts(events)
    assert "the heartbeat failed" in text and "heartbeat write failed" in text
    assert reactor.hasStopped and fatal.exit_status == 1
    assert not loop.running
    results = []
    watched.addBoth(results.append)
    assert results == [None]  # handled: no "Unhandled error in Deferred" later


def test_watch_leaves_success_alone():
    reactor = MemoryReactorClock()
    fatal = Fatal(reactor)
    results = []
    fatal.watch(succeed("done"), "the round").addBoth(results.append)
    assert results == ["done"]
    assert not reactor.hasStopped and fatal.exit_status == 0


def test_start_hands_a_start_service_exception_to_fatal():
    reactor = MemoryReactorClock()
    fatal = Fatal(reactor)
    with capturedLogs() as events:
        start(Broken(), fatal)
    [text] = critical_texts(events)
    assert "start-up failed" in text and "Address already in use" in text
    assert reactor.hasStopped and fatal.exit_status == 1


def test_run_passes_fatal_and_exits_1_after_a_failed_start(monkeypatch):
    monkeypatch.setattr(process.logs, "start", lambda *settings: None)
    reactor = MemoryReactorClock()
    built = []

    def make_service(reactor, config, fatal):
        built.append(fatal)
        return Broken()

    with capturedLogs(), pytest.raises(SystemExit) as exited:
        run("api", make_service, environ={}, reactor=reactor)
    assert exited.value.code == 1
    assert isinstance(built[0], Fatal)
    assert reactor.hasRun


def test_run_returns_normally_when_nothing_failed(monkeypatch):
    monkeypatch.setattr(process.logs, "start", lambda *settings: None)
    reactor = MemoryReactorClock()
    run("worker", lambda reactor, config, fatal: Service(), environ={}, reactor=reactor)
    assert reactor.hasRun


def test_run_exits_2_on_a_bad_setting_before_building_anything(capsys):
    def make_service(reactor, config, fatal):
        raise AssertionError("built despite a bad setting")

    with pytest.raises(SystemExit) as exited:
        run("worker", make_service, environ={"WORKER_CONCURRENCY": "zero"},
            reactor=MemoryReactorClock())
    assert exited.value.code == 2
    assert "worker: configuration error: WORKER_CONCURRENCY" in capsys.readouterr().err


def test_sequence_stops_only_the_children_that_started():
    stopped = []
    top = Sequence()
    Recording("redis", stopped).setServiceParent(top)
    Broken().setServiceParent(top)
    Recording("web", stopped).setServiceParent(top)
    fatal = Fatal(MemoryReactorClock())
    with capturedLogs():
        start(top, fatal)
    results = []
    top.stopService().addBoth(results.append)
    assert results == [None]
    assert stopped == ["redis"]

