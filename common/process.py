"""
Run a service tree as a process: read the config, start logging, start the
service, stop it cleanly on SIGTERM/SIGINT (the reactor's own handlers),
and exit non-zero with a clear message on a bad setting or a fatal error.

A daemon must never stay up half alive: an API whose dispatch loop died
still answers /healthz and looks fine to its supervisor while no task goes
out.  Dead, it gets restarted (C{restart: unless-stopped}, C{make run}).
"""

import sys

from twisted.application.service import MultiService, Service
from twisted.internet import reactor as default_reactor
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import ReactorNotRunning
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from common import config as config_module
from common import logs

log = Logger()


class Fatal:
    """
    What a service calls with a failure it cannot recover from:
    C{fatal(failure, "the dispatch round")} logs it with its traceback at
    critical level (which reaches stderr even before logging starts), stops
    the reactor (every service still gets its C{stopService}) and makes the
    process exit 1 once the reactor has stopped.
    """

    def __init__(self, reactor):
        self._reactor = reactor
        self.exit_status = 0

    def __call__(self, failure, what):
        log.failure("fatal: {what} failed; exiting", failure, what=what)
        self.exit_status = 1
        try:
            self._reactor.stop()
        except ReactorNotRunning:
            pass  # already stopping: a second fatal error, or one during shutdown

    def watch(self, deferred, what):
        """
        Make C{deferred}'s failure fatal, e.g. C{fatal.watch(loop.start(5),
        "the heartbeat")}: a LoopingCall's C{start()} Deferred fails when
        the looped function raises, and the loop is then dead for good.
        """
        return deferred.addErrback(self, what)


class Periodic(Service):
    """
    A service that runs its C{round()} (a function or a coroutine) every
    C{interval} seconds on C{clock} while it runs.  A round that raises is
    fatal: its loop would be dead for good while the process looked alive.
    A subclass defines C{round} and names itself in C{what}, for the log.
    """

    what = "a periodic round"

    def __init__(self, clock, interval, fatal):
        self.clock = clock
        self.interval = interval
        self.fatal = fatal
        self._loop = None

    def startService(self):
        super().startService()
        self._loop = LoopingCall(self.round)
        self._loop.clock = self.clock
        self.fatal.watch(self._loop.start(self.interval), self.what)

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()


def start(service, fatal):
    """
    Start the service tree; an exception (a port already taken) is fatal,
    where the reactor would only log it and leave the process up.
    """
    return fatal.watch(maybeDeferred(service.startService), "start-up")


def run(name, make_service, environ=None, reactor=default_reactor):
    """
    C{make_service(reactor, config, fatal)} builds the service tree; this
    owns the rest.  C{fatal} is this process's L{Fatal}: a service hands it
    what it cannot survive, usually with C{fatal.watch(loop.start(interval),
    "the reaper")} for each periodic loop.  An exception from the tree's
    C{startService} goes through it too.

    Exit status: 0 after SIGTERM/SIGINT, 1 after a fatal error, 2 for a bad
    setting (before anything starts).
    """
    config = _config_or_exit(name, environ)
    logs.start(config.log_level, config.log_format, name)
    fatal = Fatal(reactor)
    service = make_service(reactor, config, fatal)
    reactor.callWhenRunning(start, service, fatal)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    if fatal.exit_status:
        raise SystemExit(fatal.exit_status)


def _config_or_exit(name, environ):
    try:
        return config_module.from_env(environ)
    except config_module.ConfigError as e:
        print(f"{name}: configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


class Sequence(MultiService):
    """
    Children start in the order added and stop one by one in reverse,
    each waiting for the one after it: a worker must finish draining before
    the Redis connection it drains through is closed.  A child that never
    started (an earlier one failed to) is not stopped: it holds nothing.
    """

    async def _stop_in_turn(self):
        for service in reversed(list(self)):
            if service.running:
                await maybeDeferred(service.stopService)

    def stopService(self):
        self.running = 0
        return Deferred.fromCoroutine(self._stop_in_turn())
