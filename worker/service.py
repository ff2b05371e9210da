"""
The worker process: pull tasks, crawl up to C{WORKER_CONCURRENCY} at once,
tell the API when a page is done, and announce itself to Redis.

The heartbeat in Redis is also the worker's declared capacity: the API
leases no more tasks than live workers can hold, so tasks wait in Redis,
not in ZeroMQ buffers.  A task that finds a slot free starts at once, and
its start step reserves its host's fetch (pool-wide politeness); one that
waits here for a slot reserves when it starts.  A worker whose heartbeat
lapsed (it was frozen) knows the reaper took its tasks back, and forgets
the ones it had not started.  On stop the worker withdraws its capacity,
hands back what it had not started, and gives in-flight pages
C{DRAIN_SECONDS} to finish; whatever is still running then is cancelled
and handed back.
"""

from collections import deque
from pathlib import Path

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from common import curve, messages, wire

log = Logger()


class WorkerService(Service):
    def __init__(self, reactor, config, store, crawler, fatal):
        self._reactor = reactor
        self._config = config
        self._store = store
        self._crawler = crawler
        self._fatal = fatal
        self._queue = deque()
        self._running = {}
        # Tasks this worker answers for: being accepted, queued or running.
        self._held = 0
        # Tasks being accepted with a slot reserved for them.
        self._starting = 0
        self._notice = None
        self._noticed_job = None
        self._admitted = 0
        self._draining = False
        self._idle = None
        self._zmq = None
        self._last_beat = None
        self._heartbeat = LoopingCall(self._beat)
        self._heartbeat.clock = reactor
        self.crawled = 0

    @property
    def _slots(self):
        return self._config.worker_concurrency

    def startService(self):
        super().startService()
        self._zmq = wire.factory(self._reactor)
        hwm = max(4, self._slots)
        keys = curve.client_keys(self._config.zmq_keys_dir)
        self._tasks = wire.pull(
            self._zmq, "connect", self._config.zmq_tasks_connect, hwm, self._received, keys)
        self._notices = wire.push(self._zmq, "connect", self._config.zmq_links_connect, 1000, keys)
        self._fatal.watch(
            self._heartbeat.start(self._config.heartbeat_seconds, now=True), "the heartbeat loop")
        log.info("worker {worker} up: {slots} slots, tasks from {tasks}", event="worker.started",
                 worker=self._config.worker_id, slots=self._slots, tasks=self._config.zmq_tasks_connect)

    def _beat(self):
        Path(self._config.worker_heartbeat_file).touch()
        self._notice_lapse()
        d = self._store.heartbeat(
            self._config.worker_id, 3 * self._config.heartbeat_seconds,
            0 if self._draining else 2 * self._slots)
        return d.addErrback(lambda f: log.warn("heartbeat to Redis failed: {e}", e=f.getErrorMessage()))

    def _notice_lapse(self):
        """After a freeze longer than the heartbeat's grace, the reaper may
        have given this worker's tasks to others: hand back the ones not
        started (handing back a task that was taken back does nothing)."""
        now = self._reactor.seconds()
        last, self._last_beat = self._last_beat, now
        if last is None or now - last <= 3 * self._config.heartbeat_seconds or not self._queue:
            return
        log.warn("heartbeat lapsed for {s:.1f} s: handing back {n} queued task(s)",
                 s=now - last, n=len(self._queue))
        queued, self._queue = list(self._queue), deque()
        self._held -= len(queued)
        for task, _ in queued:
            self._hand_back(task, attempted=True)

    def _received(self, raw):
        try:
            task = messages.decode_task(raw)
        except messages.BadMessage as e:
            log.warn("ignored a bad task message: {e}", e=e)
            return
        if self._draining or self._held >= 4 * self._slots:
            self._hand_back(task, attempted=False)
            return
        self._held += 1
        reserve = len(self._running) + self._starting < self._slots
        self._starting += reserve
        d = ensureDeferred(self._crawler.accept(task, reserve))
        d.addCallbacks(self._accepted, self._not_accepted,
                       callbackArgs=(task, reserve), errbackArgs=(task, reserve))

    def _accepted(self, started, task, reserve):
        self._starting -= reserve
        if started is None:
            self._held -= 1
        elif self._draining:
            self._held -= 1
            self._hand_back(task, attempted=True)
        elif reserve:
            self._start(task, started, reserved=True)
        else:
            self._queue.append((task, started))
            self._pump()

    def _not_accepted(self, failure, task, reserve):
        # Redis went away, most likely, perhaps after it ran the start step
        # (the lease would then be this worker's for LEASE_SECONDS): hand
        # the task back once Redis answers.  The attempt, if counted, stays.
        self._starting -= reserve
        self._held -= 1
        log.warn("task {url} not accepted: {e}", url=task.url, e=failure.getErrorMessage())
        self._hand_back(task, attempted=False)

    def _hand_back(self, task, attempted):
        ensureDeferred(self._crawler.hand_back(task, attempted)).addErrback(
            lambda f: log.failure("could not hand back {url}", f, url=task.url))

    def _pump(self):
        while (self._queue and len(self._running) + self._starting < self._slots
               and not self._draining):
            task, started = self._queue.popleft()
            self._start(task, started, reserved=False)

    def _start(self, task, started, reserved):
        d = ensureDeferred(self._crawler.crawl(task, started, reserved))
        # Keyed by the Deferred: the same task may be delivered twice.
        self._running[d] = task
        d.addCallbacks(self._done, self._crashed, callbackArgs=(d,), errbackArgs=(d,))

    def _done(self, admitted, d):
        task = self._running.pop(d)
        self._held -= 1
        self.crawled += admitted is not None
        # Also when the task went back to Redis: the API may lease again.
        self._notify(task.job, admitted or 0)
        self._pump()
        self._maybe_idle()

    def _crashed(self, failure, d):
        # A bug: the task comes back through its lease.
        task = self._running.pop(d)
        self._held -= 1
        log.failure("task {url} not finished", failure, url=task.url)
        self._pump()
        self._maybe_idle()

    def _notify(self, job, admitted):
        """Tell the API pages finished: one notice per reactor turn, however
        many pages finished in it, since each notice costs the API a lease
        round."""
        self._admitted += admitted
        self._noticed_job = job
        if self._notice is None:
            self._notice = self._reactor.callLater(0, self._send_notice)

    def _send_notice(self):
        wire.send(self._notices, messages.encode_notice(self._noticed_job, self._admitted))
        self._notice, self._admitted = None, 0

    def _maybe_idle(self):
        if self._idle is not None and not self._running and not self._idle.called:
            self._idle.callback(None)

    async def _drain(self):
        self._draining = True
        await self._beat()
        queued, self._queue = list(self._queue), deque()
        self._held -= len(queued)
        await DeferredList([self._store.release(task, True) for task, _ in queued], consumeErrors=True)
        if self._running:
            self._idle = Deferred()
            self._maybe_idle()
            try:
                await self._idle.addTimeout(self._config.drain_seconds, self._reactor)
            except Exception:
                log.warn("{n} pages still running after {s} s: handing them back",
                         n=len(self._running), s=self._config.drain_seconds)
                running = list(self._running.items())
                for d, _ in running:
                    d.cancel()
                await DeferredList([self._store.release(task, True) for _, task in running],
                                   consumeErrors=True)
        await self._store.heartbeat(self._config.worker_id, 0, 0)

    async def _stop(self):
        try:
            await self._drain()
        except Exception:
            log.failure("draining failed; unfinished leases will expire")
        if self._heartbeat.running:
            self._heartbeat.stop()
        if self._notice is not None:
            self._notice.cancel()
            self._send_notice()
        self._zmq.shutdown()
        log.info("worker {worker} stopped after {pages} pages", event="worker.stopped",
                 worker=self._config.worker_id, pages=self.crawled)

    def stopService(self):
        super().stopService()
        return ensureDeferred(self._stop())
