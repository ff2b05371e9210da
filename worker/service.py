"""
The worker process: pull tasks, crawl up to C{WORKER_CONCURRENCY} at once,
tell the API when a page is done, and announce itself to Redis.

The heartbeat in Redis is also the worker's declared capacity: the API
leases no more tasks than live workers can hold, so tasks wait in Redis,
not in ZeroMQ buffers.  On stop the worker withdraws its capacity, hands
back what it had not started, and gives in-flight pages C{DRAIN_SECONDS}
to finish; whatever is still running then is cancelled and handed back.
"""

from collections import deque
from pathlib import Path

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from common import messages, wire
from worker.crawl import Crawler

log = Logger()


class WorkerService(Service):
    def __init__(self, reactor, config, store, fetcher, robots=None):
        self._reactor = reactor
        self._config = config
        self._store = store
        self._fetcher = fetcher
        self._crawler = Crawler(store, fetcher, config, robots)
        self._queue = deque()
        self._running = {}
        # Tasks this worker answers for: being accepted, queued or running.
        self._held = 0
        self._notice = None
        self._noticed_job = None
        self._admitted = 0
        self._draining = False
        self._idle = None
        self._zmq = None
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
        self._tasks = wire.pull(self._zmq, "connect", self._config.zmq_tasks_connect, hwm, self._received)
        self._notices = wire.push(self._zmq, "connect", self._config.zmq_links_connect, 1000)
        self._heartbeat.start(self._config.heartbeat_seconds, now=True).addErrback(
            lambda f: log.failure("heartbeat loop stopped", f))
        log.info("worker {id} up: {slots} slots, tasks from {tasks}",
                 id=self._config.worker_id, slots=self._slots, tasks=self._config.zmq_tasks_connect)

    def _beat(self):
        Path(self._config.worker_heartbeat_file).touch()
        d = self._store.heartbeat(
            self._config.worker_id, 3 * self._config.heartbeat_seconds,
            0 if self._draining else 2 * self._slots)
        return d.addErrback(lambda f: log.warn("heartbeat to Redis failed: {e}", e=f.getErrorMessage()))

    def _received(self, raw):
        try:
            task = messages.decode_task(raw)
        except messages.BadMessage as e:
            log.warn("ignored a bad task message: {e}", e=e)
            return
        if self._draining or self._held >= 4 * self._slots:
            self._hand_back(task)
            return
        self._held += 1
        d = ensureDeferred(self._crawler.accept(task))
        d.addCallbacks(self._accepted, self._not_accepted, callbackArgs=(task,), errbackArgs=(task,))

    def _accepted(self, started, task):
        if started is None:
            self._held -= 1
        elif self._draining:
            self._held -= 1
            self._hand_back(task)
        else:
            self._queue.append((task, started))
            self._pump()

    def _hand_back(self, task):
        self._store.release(task).addErrback(
            lambda f: log.warn("could not hand back {url}: {e}", url=task.url, e=f.getErrorMessage()))

    def _pump(self):
        while self._queue and len(self._running) < self._slots and not self._draining:
            task, started = self._queue.popleft()
            d = ensureDeferred(self._crawler.crawl(task, started))
            # Keyed by the Deferred: the same task may be delivered twice.
            self._running[d] = task
            d.addCallbacks(self._done, self._crashed, callbackArgs=(d,), errbackArgs=(d,))

    def _not_accepted(self, failure, task):
        # Redis unreachable, most likely: the lease runs out and the reaper
        # requeues the task, so there is nothing to undo here.
        self._held -= 1
        log.warn("task {url} not accepted: {e}", url=task.url, e=failure.getErrorMessage())

    def _done(self, admitted, d):
        task = self._running.pop(d)
        self._held -= 1
        self.crawled += 1
        if admitted is not None:
            self._notify(task.job, admitted)
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

    def _crashed(self, failure, d):
        # As above: a task whose finish step failed comes back via its lease.
        task = self._running.pop(d)
        self._held -= 1
        log.warn("task {url} not finished: {e}", url=task.url, e=failure.getErrorMessage())
        self._pump()
        self._maybe_idle()

    def _maybe_idle(self):
        if self._idle is not None and not self._running and not self._idle.called:
            self._idle.callback(None)

    async def _drain(self):
        self._draining = True
        await self._beat()
        queued, self._queue = list(self._queue), deque()
        self._held -= len(queued)
        await DeferredList([self._store.release(task) for task, _ in queued], consumeErrors=True)
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
                await DeferredList([self._store.release(task) for _, task in running], consumeErrors=True)
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
        await self._fetcher.close()
        log.info("worker {id} stopped after {n} pages", id=self._config.worker_id, n=self.crawled)

    def stopService(self):
        super().stopService()
        return ensureDeferred(self._stop())
