"""
Run a service tree as a process: read the config, start logging, start the
service, stop it cleanly on SIGTERM/SIGINT (the reactor's own handlers),
and exit non-zero with a clear message on a bad setting.
"""

import sys

from twisted.application.service import MultiService
from twisted.internet import reactor as default_reactor
from twisted.internet.defer import Deferred, maybeDeferred

from common import config as config_module
from common import logs


def run(name, make_service, environ=None, reactor=default_reactor):
    """
    C{make_service(reactor, config)} builds the service; this owns the rest.
    """
    try:
        config = config_module.from_env(environ)
    except config_module.ConfigError as e:
        print(f"{name}: configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.start(config.log_level)
    service = make_service(reactor, config)
    reactor.callWhenRunning(service.startService)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()


class Sequence(MultiService):
    """
    Children start in the order added and stop one by one in reverse,
    each waiting for the one after it: a worker must finish draining before
    the Redis connection it drains through is closed.
    """

    async def _stop_in_turn(self):
        for service in reversed(list(self)):
            await maybeDeferred(service.stopService)

    def stopService(self):
        self.running = 0
        return Deferred.fromCoroutine(self._stop_in_turn())
