"""
The API's half of the task flow: push leased tasks out, hear back from
workers, and reap leases that ran out.

Redis decides what goes out (C{lua/lease.lua}: host by host within every
host's pool-wide limits, never more than the live workers can hold); this
service only moves bytes and keeps time.  It wakes on four things: a job
was created, a worker finished or gave back a page (a notice on the links
socket), the moment a waiting host or retry comes due (the lease step
says when), and a periodic round that also reaps expired leases and is
what recovers from anything ZeroMQ lost.
"""

from twisted.application.service import Service
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from api.roster import Roster
from common import curve, messages, wire
from common.store import redis_down

log = Logger()

BATCH = 64


class Dispatcher(Service):
    def __init__(self, reactor, config, store, metrics, fatal):
        """
        @param fatal: called with a failure when the periodic round dies;
            the process must then exit (L{common.process}).
        """
        self._reactor = reactor
        self._config = config
        self._store = store
        self._metrics = metrics
        self._fatal = fatal
        self._busy = False
        self._again = False
        self._round = LoopingCall(self._periodic)
        self._round.clock = reactor
        self._timer = None
        self._zmq = None
        self._roster = Roster()

    @property
    def accept_seconds(self):
        """
        How long a pushed task waits to be taken on: a live worker does it
        as soon as the task arrives, so a task lost on the wire (a dead
        worker's buffers, an API restart) comes back after the same grace a
        silent worker's own tasks get: three heartbeats.
        """
        return 3 * self._config.heartbeat_seconds

    def startService(self):
        super().startService()
        self._zmq = wire.factory(self._reactor)
        keys = curve.server_keys(self._config.zmq_keys_dir)
        self._tasks = wire.push(self._zmq, "bind", self._config.zmq_tasks_bind, 10 * BATCH, keys)
        self._notices = wire.pull(
            self._zmq, "bind", self._config.zmq_links_bind, 10_000, self._notice, keys)
        self._fatal.watch(self._round.start(self._config.reap_interval, now=True), "the dispatch round")
        log.info("dispatching on {tasks}, notices on {links}",
                 tasks=self._config.zmq_tasks_bind, links=self._config.zmq_links_bind)

    def stopService(self):
        super().stopService()
        if self._round.running:
            self._round.stop()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
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
                tasks, wake = await self._store.lease(self.accept_seconds, BATCH)
                self._wake_at(wake)
                for task in tasks:
                    if wire.send(self._tasks, messages.encode_task(task)):
                        self._metrics.tasks_pushed.inc()
                    else:
                        await self._store.release(task, attempted=False)
                if len(tasks) < BATCH:
                    break
        except Exception as e:
            if redis_down(e):
                log.warn("dispatch failed, retrying next round: {e}", e=e)
            else:
                log.failure("dispatch failed, retrying next round")
        finally:
            self._busy = False
        if self._again:
            self._again = False
            self.wake()

    def _wake_at(self, when):
        """Be back when a waiting host or retry comes due (if before the
        next round would be)."""
        if when is None:
            return
        delay = max(0.0, when - self._reactor.seconds())
        if self._timer is not None and self._timer.active():
            if self._timer.getTime() <= when:
                return
            self._timer.cancel()
        self._timer = self._reactor.callLater(delay, self.wake)

    async def _periodic(self):
        try:
            requeued, failed = await self._store.reap(
                self._config.max_attempts, max_pushes(self._config.max_attempts))
            backlog = await self._store.backlog()
            live = await self._store.live_workers()
        except Exception as e:
            if not redis_down(e):
                raise
            log.warn("reaping failed, retrying next round: {e}", e=e)
            return
        self._roster.update(live)
        if requeued or failed:
            log.info("leases reclaimed: {requeued} task(s) requeued, {failed} given up",
                     event="leases.reclaimed", requeued=requeued, failed=failed)
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
