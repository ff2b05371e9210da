"""
The API's half of the task flow: push leased tasks out, hear back from
workers, and reap leases that ran out.

Redis decides what goes out (C{lua/lease.lua}: fair across jobs, never more
than the live workers can hold); this service only moves bytes.  It wakes
on three things: a job was created, a worker finished a page (a notice on
the links socket), and a periodic round that also reaps expired leases
and is what recovers from anything ZeroMQ lost.
"""

from twisted.application.service import Service
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from common import messages, wire

log = Logger()

BATCH = 64


class Dispatcher(Service):
    def __init__(self, reactor, config, store, metrics):
        self._reactor = reactor
        self._config = config
        self._store = store
        self._metrics = metrics
        self._busy = False
        self._again = False
        self._round = LoopingCall(self._periodic)
        self._round.clock = reactor
        self._zmq = None

    def startService(self):
        super().startService()
        self._zmq = wire.factory(self._reactor)
        self._tasks = wire.push(self._zmq, "bind", self._config.zmq_tasks_bind, 10 * BATCH)
        self._notices = wire.pull(self._zmq, "bind", self._config.zmq_links_bind, 10_000, self._notice)
        self._round.start(self._config.reap_interval, now=True).addErrback(
            lambda f: log.failure("dispatch round stopped", f))
        log.info("dispatching on {tasks}, notices on {links}",
                 tasks=self._config.zmq_tasks_bind, links=self._config.zmq_links_bind)

    def stopService(self):
        super().stopService()
        if self._round.running:
            self._round.stop()
        self._zmq.shutdown()

    def _notice(self, raw):
        try:
            messages.decode_notice(raw)
        except messages.BadMessage as e:
            log.warn("ignored a bad notice: {e}", e=e)
            return
        self._metrics.pages_finished.inc()
        self.wake()

    def wake(self):
        """Push what can be pushed now; coalesces calls made while busy."""
        if not self.running:
            return
        if self._busy:
            self._again = True
            return
        ensureDeferred(self._dispatch())

    async def _dispatch(self):
        self._busy = True
        try:
            while self.running and wire.can_send(self._tasks):
                tasks = await self._store.lease(self._config.lease_seconds, BATCH)
                for task in tasks:
                    if wire.send(self._tasks, messages.encode_task(task)):
                        self._metrics.tasks_pushed.inc()
                    else:
                        await self._store.release(task)
                if len(tasks) < BATCH:
                    break
        except Exception as e:
            log.warn("dispatch failed, retrying next round: {e}", e=e)
        finally:
            self._busy = False
        if self._again:
            self._again = False
            self.wake()

    async def _periodic(self):
        try:
            requeued, failed = await self._store.reap(
                self._config.max_attempts, max_pushes(self._config.max_attempts))
            backlog = await self._store.backlog()
        except Exception as e:
            log.warn("reaping failed, retrying next round: {e}", e=e)
            return
        if requeued or failed:
            log.info("leases ran out: {r} task(s) requeued, {f} given up", r=requeued, f=failed)
        self._metrics.tasks_requeued.inc(requeued)
        self._metrics.tasks_given_up.inc(failed)
        self._metrics.leased.set(backlog["leased"])
        self._metrics.workers.set(backlog["workers"])
        self.wake()


def max_pushes(max_attempts):
    """
    How often a task may be pushed without being started before it is given
    up: tasks lost in a dead worker's buffer were never attempted, so they
    get more deliveries than attempts, but not forever.
    """
    return 3 * max_attempts + 2
