"""
C{python -m tests.integration.parsing_scenarios NAME}: one scenario of the
real L{ParserPool}, real parser processes and a real reactor; prints its
observations as one JSON line for tests/integration/test_parsing_processes.py.

A process of its own, because a reactor that runs in the main thread with
its signal handlers is the only one that sees its children exit when they
do (SIGCHLD), as the worker's reactor does; and every scenario gets a
fresh one.
"""

import json
import os
import signal
import sys
import time

from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater, react
from twisted.logger import globalLogBeginner, textFileLogObserver

from bench.parse_cost import LagMeter, Recorder, archive_page
from bench.procstat import cpu_seconds
from bench.site import Shape, render
from tests.integration.sites import ROUTES
from worker.parse_child import decode_frame
from worker.parsing import CHILD_ARGS, ROOT, ParseError, ParserPool

CAP = 10_000
# CPU seconds past a child's start-up (0.2 s) and short of an archive page (2 s)
BUSY_CPU = 0.8
# parse()'s arguments: body, content type, URL
SMALL = (b'<img src="/s.png" alt="small"><a href="/n">n</a>', "text/html", "http://a.test/small")


def pages():
    """C{parse()}'s arguments for the fixture site's HTML pages, a page of the
    benchmark site, a windows-1252 page without a charset, and an empty body."""
    found = [(body.encode("utf-8"), headers["Content-Type"], f"http://127.0.0.1:8000{path}")
             for path, (_, headers, body) in ROUTES.items()
             if headers.get("Content-Type", "").startswith("text/html")]
    found.append((render(7, Shape()).encode(), "text/html", "http://127.0.0.1:8080/p/7.html"))
    found.append((b'<img src="/caf\xe9.png" alt="d\xe9j\xe0 vu">', None, "http://a.test/latin"))
    found.append((b"", "text/html", "http://a.test/empty"))
    return found


async def until(reactor, condition, what, timeout=30.0):
    """Poll without blocking the reactor until C{condition()} holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await deferLater(reactor, 0.01, lambda: None)


async def outcome(d):
    """A parse's result as JSON: the Parsed's fields, or the error's type and message."""
    try:
        return {"parsed": vars(await d)}
    except ParseError as e:
        return {"error": type(e).__name__, "message": str(e)}


def _pool(reactor, processes, timeout):
    spawn = Recorder(reactor)
    pool = ParserPool(reactor, processes, timeout, CAP, spawn=spawn)
    pool.startService()
    return pool, spawn


async def same_results(reactor):
    pool, _ = _pool(reactor, 2, 30)
    found = await gatherResults([ensureDeferred(outcome(pool.parse(*page))) for page in pages()])
    await pool.stopService()
    return found


async def timeout(reactor):
    """A big page overruns a 0.5 s timeout while a small one goes through."""
    pool, spawn = _pool(reactor, 2, 0.5)
    body = archive_page(0).body
    await outcome(pool.parse(*SMALL))   # a child is ready: the big page is taken at once
    started = time.monotonic()
    big = ensureDeferred(outcome(pool.parse(body, "text/html", "http://a.test/big")))
    small = await outcome(pool.parse(*SMALL))
    slow = await big
    failed_after = time.monotonic() - started
    after = await outcome(pool.parse(*SMALL))
    await pool.stopService()
    return {"slow": slow, "failed_after": failed_after, "small": small, "after": after,
            "spawned": len(spawn.pids)}


async def sigkill(reactor):
    """Two big pages in flight; one child is killed with SIGKILL mid-page."""
    pool, spawn = _pool(reactor, 2, 120)
    bigs = [archive_page(n) for n in (1, 2)]
    ds = [ensureDeferred(outcome(pool.parse(page.body, "text/html", page.url))) for page in bigs]
    await until(reactor, lambda: all(cpu_seconds(pid) > BUSY_CPU for pid in spawn.pids),
                "both children parsing")
    os.kill(spawn.pids[0], signal.SIGKILL)
    results = await gatherResults(ds)
    after = await outcome(pool.parse(*SMALL))
    await pool.stopService()
    return {"results": results, "urls": [page.url for page in bigs], "after": after,
            "spawned": len(spawn.pids)}


async def lag(reactor):
    """How late a 10 ms timer runs while a child parses a 4.7 MiB page."""
    pool, _ = _pool(reactor, 1, 120)
    await outcome(pool.parse(*SMALL))
    big, meter = archive_page(3), LagMeter(reactor)
    meter.start()
    started = time.monotonic()
    parsed = await outcome(pool.parse(big.body, "text/html", big.url))
    parse_seconds = time.monotonic() - started
    meter.stop()
    await pool.stopService()
    return {"parse_seconds": parse_seconds, "max_lag": meter.worst,
            "images": parsed["parsed"]["image_count"]}


async def stop(reactor):
    """Stopping closes stdin; the children exit before the grace period ends."""
    pool, spawn = _pool(reactor, 2, 30)
    await gatherResults([ensureDeferred(outcome(pool.parse(*SMALL))) for _ in range(4)])
    started = time.monotonic()
    await pool.stopService()
    gone = []
    for pid in spawn.pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone.append(pid)
    return {"seconds": time.monotonic() - started, "pids": spawn.pids, "gone": gone}


class Events(ProcessProtocol):
    """Every callback a process transport makes, in order."""

    def __init__(self):
        self.events, self._data = [], b""
        self.ready = False

    def outReceived(self, data):
        self._data += data
        self.ready = decode_frame(self._data) == ({"ready": True}, b"", len(self._data))

    def childConnectionLost(self, fd):
        self.events.append(["childConnectionLost", fd])

    def processExited(self, reason):
        self.events.append(["processExited", *_reason(reason.value)])

    def processEnded(self, reason):
        self.events.append(["processEnded", *_reason(reason.value)])


def _reason(value):
    return [type(value).__name__, value.exitCode, value.signal]


async def contract(reactor):
    """What the real transport does, for tests/fakes_parsing.py to match."""
    found = {}
    for how in ("eof", "kill"):
        events = Events()
        process = reactor.spawnProcess(events, sys.executable, [sys.executable, *CHILD_ARGS],
                                       env=os.environ, path=str(ROOT))
        await until(reactor, lambda: events.ready, "the child's ready frame")
        if how == "eof":
            process.closeStdin()
        else:
            process.signalProcess("KILL")
        await until(reactor, lambda: events.events[-1:] and events.events[-1][0] == "processEnded",
                    "processEnded")
        process.write(b"after the end")
        try:
            process.signalProcess("KILL")
            raised = None
        except ProcessExitedAlready:
            raised = "ProcessExitedAlready"
        found[how] = {"events": events.events, "pid": process.pid, "signal_after_end": raised}
    return found


SCENARIOS = {f.__name__: f for f in (same_results, timeout, sigkill, lag, stop, contract)}


def main(name):
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)

    async def run(reactor):
        print(json.dumps(await SCENARIOS[name](reactor)), flush=True)
    react(lambda reactor: ensureDeferred(run(reactor)))


if __name__ == "__main__":
    main(sys.argv[1])
