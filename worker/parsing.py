"""
Parsing off the reactor thread, in a pool of parser processes.

Parsed on the reactor thread, a 5 MiB page froze a worker for seconds (no
heartbeats, no fetches), one core did all of a worker's parsing, and a page
that crashed or hung the parser took the whole worker with it.
L{ParserPool} keeps C{processes} long-lived children (L{worker.parse_child})
and gives each of them one page at a time:

  - requests wait in FIFO order while every child is busy: the queue is
    bounded by the worker's concurrency, and no child holds more than one
    body;
  - a child silent for C{timeout} seconds is killed and replaced, and only
    its request fails, with L{ParseTimeout};
  - a child that dies fails only its request, with L{ParserCrashed}, and is
    replaced; an exception in the parser fails only its request, with
    L{ParseFailed};
  - children that keep dying before they are ready are not respawned in a
    loop: the pool backs off, says so in the log, and fails the waiting
    requests with L{ParserUnavailable}.

L{Parsed} and L{summarize} are defined with the child (which must not
import Twisted) and re-exported here for the crawler.
"""

import os
import signal
import sys
from collections import deque
from pathlib import Path

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, gatherResults
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

from worker.parse_child import FrameError, Parsed, decode_frame, encode_frame, summarize

__all__ = [
    "ParseError", "ParseFailed", "ParseTimeout", "Parsed", "ParserCrashed", "ParserPool",
    "ParserUnavailable", "summarize",
]

log = Logger()

ROOT = Path(__file__).resolve().parent.parent
CHILD_ARGS = ("-m", "worker.parse_child")
START_SECONDS = 30.0        # a child's imports take a fraction of a second
STOP_GRACE_SECONDS = 2.0    # for a child to finish its page and read EOF
CRASH_LOOP = 5              # deaths before ready, in a row, that mean "broken"
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
_MAX_STDERR = 2000


class ParseError(Exception):
    """The pool could not parse a page; the message says why, for the page record."""


class ParseTimeout(ParseError):
    """The page's child did not answer within the timeout and was killed."""


class ParserCrashed(ParseError):
    """The page's child died, or broke the protocol, before it answered."""


class ParseFailed(ParseError):
    """The parser raised on this page: C{"TypeName: message"}."""


class ParserUnavailable(ParseError):
    """No child can take the page: the pool is stopped, or its children
    keep dying at start.  Unlike the others, not the page's fault."""


class _Request:
    """One page, waiting in the queue or held by a child."""

    __slots__ = ("body", "content_type", "url", "deferred")

    def __init__(self, body, content_type, url):
        self.body, self.content_type, self.url = body, content_type, url
        self.deferred = None


def _settle(request, outcome):
    """Fire a request's Deferred, unless its caller has cancelled it."""
    if request.deferred.called:
        return
    if isinstance(outcome, Exception):
        request.deferred.errback(outcome)
    else:
        request.deferred.callback(outcome)


def _outcome(header):
    """A child's reply as a L{Parsed} or the L{ParseFailed} to raise."""
    if "error" in header:
        return ParseFailed(header["error"])
    try:
        return Parsed(**header["parsed"])
    except TypeError as e:
        raise FrameError(f"bad reply: {e}") from None


def _ending(value):
    """How a process ended, in words: C{"was killed by signal 9 (SIGKILL)"}."""
    if value.signal:
        try:
            name = signal.Signals(value.signal).name
        except ValueError:
            name = "unknown"
        return f"was killed by signal {value.signal} ({name})"
    return f"exited with status {value.exitCode}"


class _Child(ProcessProtocol):
    """One parser process as the pool sees it: its pipe, its deadline, its page."""

    def __init__(self, pool):
        self._pool = pool
        self._frames = bytearray()
        self.pid = None
        self.request = None     # the _Request it is parsing
        self.timer = None       # its start deadline, then each page's deadline
        self.ready = False
        self.retired = False    # out of service: whatever it says now is dropped
        self.ended = Deferred()

    def connectionMade(self):
        self.pid = self.transport.pid

    def outReceived(self, data):
        if self.retired:
            return
        self._frames += data
        try:
            while not self.retired and (frame := decode_frame(self._frames)) is not None:
                header, _, used = frame
                del self._frames[:used]
                self._pool._heard(self, header)
        except FrameError as e:
            self._pool._garbled(self, e)

    def errReceived(self, data):
        text = data.decode("utf-8", "replace")[:_MAX_STDERR].rstrip()
        log.warn("parser process {pid}: {text}", pid=self.pid, text=text)

    def outConnectionLost(self):
        self._pool._silenced(self)

    def processEnded(self, reason):
        self._pool._ended(self, reason.value)
        self.ended.callback(None)

    def kill(self):
        try:
            self.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

    def cancel_timer(self):
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


class ParserPool(Service):
    """
    C{processes} parser processes behind one L{parse} call.

    @param spawn: C{reactor.spawnProcess} or a stand-in with its signature.
    """

    def __init__(self, reactor, processes, timeout, max_urls, spawn=None):
        self._reactor = reactor
        self._processes = processes
        self._timeout = timeout
        self._max_urls = max_urls
        self._spawn = reactor.spawnProcess if spawn is None else spawn
        self._queue = deque()
        self._idle = deque()
        self._working = set()   # in service: starting, idle or busy
        self._living = set()    # not ended yet, in service or not
        self._failures = 0      # children in a row that died before they were ready
        self._last_failure = None
        self._restart = None    # the delayed respawn while backing off

    def startService(self):
        super().startService()
        self._failures = 0
        self._top_up()

    def stopService(self):
        """Close every child's stdin, kill those still running after a grace
        period, and fire when all have exited."""
        super().stopService()
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        stopped = ParserUnavailable("the parser pool stopped")
        self._fail_queue(stopped)
        for child in list(self._working):
            request = self._release(child)
            if request is not None:
                _settle(request, stopped)
            child.transport.closeStdin()
            child.timer = self._reactor.callLater(STOP_GRACE_SECONDS, child.kill)
        return gatherResults([child.ended for child in self._living])

    def parse(self, body: bytes, content_type: str | None, url: str) -> Deferred:
        """
        Parse one page in a child: fires with a L{Parsed}, or fails with a
        L{ParseError}.  Cancelling it drops the page from the queue; a child
        that already has it finishes it, and the answer is dropped.
        """
        if not self.running:
            return fail(ParserUnavailable("the parser pool is not running"))
        if self._restart is not None and not self._working:
            return fail(ParserUnavailable(self._outage()))
        request = _Request(body, content_type, url)
        request.deferred = Deferred(lambda _: self._withdraw(request))
        self._queue.append(request)
        self._dispatch()
        return request.deferred

    def _withdraw(self, request):
        if request in self._queue:
            self._queue.remove(request)

    def _dispatch(self):
        """Give waiting pages to idle children, oldest page first."""
        while self._idle and self._queue:
            child, request = self._idle.popleft(), self._queue.popleft()
            child.request = request
            child.timer = self._reactor.callLater(self._timeout, self._overdue, child)
            header = {"url": request.url, "content_type": request.content_type,
                      "cap": self._max_urls}
            child.transport.write(encode_frame(header, request.body))

    def _heard(self, child, header):
        """A frame from a child: it is ready, or it answers its page."""
        if "ready" in header and not child.ready and child.request is None:
            child.cancel_timer()
            child.ready = True
            self._failures = 0
        elif child.request is not None and ("parsed" in header or "error" in header):
            outcome = _outcome(header)
            child.cancel_timer()
            request, child.request = child.request, None
            _settle(request, outcome)
        else:
            raise FrameError(f"unexpected frame with {sorted(header)}")
        if not child.retired:   # the caller's callback may have stopped the pool
            self._idle.append(child)
            self._dispatch()

    def _overdue(self, child):
        """A child's deadline passed: it is stuck in a page or in its start."""
        child.timer = None
        if child.request is None:
            log.error("parser process {pid} did not start within {seconds} s; killing it",
                      pid=child.pid, seconds=START_SECONDS)
        else:
            log.warn("parsing {url} took longer than {seconds} s; killing parser process {pid}",
                     url=child.request.url, seconds=self._timeout, pid=child.pid)
        self._abandon(child, ParseTimeout(f"parsing took longer than {self._timeout:g} s"),
                      f"did not start within {START_SECONDS:g} s")

    def _garbled(self, child, error):
        log.error("parser process {pid} broke the protocol ({error}); killing it",
                  pid=child.pid, error=error)
        self._abandon(child, ParserCrashed(f"the parser process broke the protocol: {error}"),
                      f"broke the protocol: {error}")

    def _silenced(self, child):
        """Its stdout closed: it cannot answer, so it takes no new page."""
        if child in self._idle:
            self._idle.remove(child)

    def _ended(self, child, value):
        self._living.discard(child)
        child.cancel_timer()
        if child.retired:
            return
        ending = _ending(value)
        log.warn("parser process {pid} {ending}", pid=child.pid, ending=ending)
        self._lose(child, ParserCrashed(f"the parser process {ending}"), ending)

    def _abandon(self, child, error, why):
        """Take a still running child out of service and kill it."""
        self._lose(child, error, why)
        child.kill()

    def _lose(self, child, error, why):
        """Fail the child's page, if any, and replace the child."""
        request = self._release(child)
        if request is not None:
            _settle(request, error)
        if child.ready:
            self._top_up()
        else:
            self._start_failed(why)

    def _release(self, child):
        """Take a child out of service; return the page it held, if any."""
        child.retired = True
        child.cancel_timer()
        self._working.discard(child)
        self._silenced(child)
        request, child.request = child.request, None
        return request

    def _start_failed(self, why):
        """Respawn at once, unless children keep dying at start: then back off."""
        self._failures += 1
        self._last_failure = why
        if self._failures < CRASH_LOOP:
            self._top_up()
            return
        delay = min(BACKOFF_FIRST_SECONDS * 2 ** min(self._failures - CRASH_LOOP, 16),
                    BACKOFF_MAX_SECONDS)
        log.error("{outage}; starting them again in {delay} s", outage=self._outage(), delay=delay)
        if not self._working:
            self._fail_queue(ParserUnavailable(self._outage()))
        if self._restart is None and self.running:
            self._restart = self._reactor.callLater(delay, self._restarted)

    def _restarted(self):
        self._restart = None
        self._top_up()

    def _outage(self):
        return (f"parser processes keep dying at start ({self._failures} in a row; "
                f"the last {self._last_failure})")

    def _top_up(self):
        """Start children until there are C{processes}, unless stopped or backing off."""
        while self.running and self._restart is None and len(self._working) < self._processes:
            child = _Child(self)
            try:
                self._spawn(child, sys.executable, [sys.executable, *CHILD_ARGS],
                            env=os.environ, path=str(ROOT))
            except OSError as e:
                log.error("could not start a parser process: {error}", error=e)
                self._start_failed(f"could not be started: {e}")
                return
            self._working.add(child)
            self._living.add(child)
            child.timer = self._reactor.callLater(START_SECONDS, self._overdue, child)

    def _fail_queue(self, error):
        while self._queue:
            _settle(self._queue.popleft(), error)
