"""
An in-memory stand-in for L{common.store.JobStore}, for unit tests.

L{FakeStore} has the same public methods, with the same signatures, the
same sync/async shape (a L{Deferred} where the real store returns one, a
coroutine where it is C{async def}) and the same semantics as the Lua
scripts in C{common/lua/}: tests/unit/test_store_contract.py runs one
suite against both to keep them in step.  Its Deferreds fire at once, so
code under test runs to completion synchronously unless a test holds a
step back on purpose.

Besides the store's methods it offers what tests need to look inside:
C{calls} (every call with its arguments), C{assert_job_ids()}, the raw
state (C{hashes}, C{frontiers}, C{leases}, ...), and C{ping_error} /
C{ping_hangs} to make readiness checks fail.

L{FakeWire} stands in for L{common.wire} (ZeroMQ) in the dispatcher's and
the worker's unit tests: sockets that record what was sent, can be made
full, and deliver messages when the test says so.
"""

import json
import uuid
from collections import deque

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from common import keys
from common.messages import Task, is_job_id
from common.store import StartResult

_LIVE = ("queued", "running")


class FakeStore:
    def __init__(self, clock=None):
        self.clock = Clock() if clock is None else clock
        self.calls = []
        self.ping_error = None
        self.ping_hangs = False
        self.hashes = {}          # job id -> {field: str}
        self.created = {}         # job id -> created_at (the "jobs" zset)
        self.active = deque()     # live job ids, rotated by lease
        self.frontiers = {}       # job id -> deque of (depth str, url)
        self.seen = {}            # job id -> set of urls
        self.attempts = {}        # job id -> {url: int}
        self.pushes = {}          # job id -> {url: int}
        self.page_records = {}    # job id -> {url: json str}
        self.page_order = {}      # job id -> [url]
        self.image_records = {}   # job id -> {url: json str}
        self.image_order = {}     # job id -> [url]
        self.leases = {}          # "job depth url" -> deadline
        self.lease_owner = {}     # "job depth url" -> worker that started it
        self.workers = {}         # worker id -> expiry
        self.worker_slots = {}    # worker id -> slots

    # -- what tests use to look inside ---------------------------------------

    def _record(self, name, *args):
        self.calls.append((name, args))

    def called(self, name):
        return [args for called, args in self.calls if called == name]

    def assert_job_ids(self):
        """Every job id that reached the store was a well-formed one."""
        for name, args in self.calls:
            if name in ("job", "images", "pages", "cancel"):
                assert is_job_id(args[0]), f"{name}({args[0]!r}) reached the store"

    def _check_id(self, name, job_id):
        if not is_job_id(job_id):
            raise AssertionError(f"{name}({job_id!r}): not a job id; the API must not pass it on")

    def _now(self):
        return self.clock.seconds()

    # -- the JobStore interface ------------------------------------------------

    def create(self, urls, options):
        self._record("create", urls, options)
        job_id = uuid.uuid4().hex
        now = repr(self._now())
        count = len(urls)
        self.hashes[job_id] = {
            "id": job_id, "status": "queued", "created_at": now,
            "urls": json.dumps(urls), "options": json.dumps(options),
            "max_depth": str(options["max_depth"]), "max_pages": str(options["max_pages"]),
            "scope": str(options["scope"]),
            "pages_admitted": str(count), "pending": str(count),
            "pages_crawled": "0", "pages_failed": "0", "pages_skipped": "0",
            "pages_retried": "0", "images_found": "0",
        }
        self.seen[job_id] = set(urls)
        self.frontiers[job_id] = deque(("0", url) for url in urls)
        self.attempts[job_id] = {}
        self.pushes[job_id] = {}
        self.page_records[job_id] = {}
        self.page_order[job_id] = []
        self.image_records[job_id] = {}
        self.image_order[job_id] = []
        self.created[job_id] = float(now)
        self.active.append(job_id)
        return succeed(job_id)

    def job(self, job_id):
        self._record("job", job_id)
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        found = self.hashes.get(job_id)
        return succeed(dict(found) if found else None)

    async def recent_jobs(self, offset, limit):
        self._record("recent_jobs", offset, limit)
        ordered = sorted(self.created, key=lambda i: (self.created[i], i), reverse=True)
        return [dict(self.hashes[i]) for i in ordered[offset:offset + limit] if i in self.hashes]

    async def _slice(self, name, job_id, offset, limit):
        self._check_id(name, job_id)
        order = (self.image_order if name == "images" else self.page_order).get(job_id, [])
        found = (self.image_records if name == "images" else self.page_records).get(job_id, {})
        return [(url, json.loads(found[url])) for url in order[offset:offset + limit]
                if url in found]

    def images(self, job_id, offset, limit):
        self._record("images", job_id, offset, limit)
        return self._slice("images", job_id, offset, limit)

    def pages(self, job_id, offset, limit):
        self._record("pages", job_id, offset, limit)
        return self._slice("pages", job_id, offset, limit)

    def cancel(self, job_id):
        self._record("cancel", job_id)
        self._check_id("cancel", job_id)
        job = self.hashes.get(job_id)
        status = job["status"] if job else None
        if status in _LIVE:
            job.update(status="cancelled", finished_at=repr(self._now()))
            self._drop_transient(job_id)
            return succeed("cancelled")
        return succeed(status)

    async def lease(self, lease_seconds, want):
        self._record("lease", lease_seconds, want)
        now = self._now()
        capacity = sum(self.worker_slots.get(w, 0)
                       for w, expiry in self.workers.items() if expiry >= now)
        want = min(want, capacity - len(self.leases))
        tasks, misses, jobs = [], 0, len(self.active)
        while len(tasks) < want and misses < jobs:
            job_id = self.active[0]
            self.active.rotate(-1)
            frontier = self.frontiers.get(job_id)
            if not frontier:
                misses += 1
                continue
            misses = 0
            depth, url = frontier.popleft()
            job = self.hashes[job_id]
            if job["status"] == "queued":
                job.update(status="running", started_at=repr(now))
            self.leases[keys.lease_member(job_id, depth, url)] = now + lease_seconds
            self.pushes[job_id][url] = self.pushes[job_id].get(url, 0) + 1
            attempt = self.attempts[job_id].get(url, 0) + 1
            tasks.append(Task(job=job_id, url=url, depth=int(depth), attempt=attempt))
        return tasks

    async def start(self, task, lease_seconds, want_settings, worker):
        self._record("start", task, lease_seconds, want_settings, worker)
        member = keys.lease_member(task.job, task.depth, task.url)
        job = self.hashes.get(task.job)
        status = job["status"] if job else None
        if status not in _LIVE:
            self._drop_lease(member)
            return StartResult(go=False, reason=status or "unknown job")
        if task.url in self.page_records[task.job]:
            self._drop_lease(member)
            return StartResult(go=False, reason="already done")
        if member in self.leases:
            self.leases[member] = self._now() + lease_seconds
            self.lease_owner[member] = worker
        attempts = self.attempts[task.job]
        attempts[task.url] = attempts.get(task.url, 0) + 1
        settings = None
        if want_settings:
            settings = {"urls": json.loads(job["urls"]), "scope": job["scope"],
                        "max_depth": int(job["max_depth"])}
        return StartResult(go=True, attempt=attempts[task.url], settings=settings)

    def release(self, task):
        self._record("release", task)
        member = keys.lease_member(task.job, task.depth, task.url)
        if member in self.leases:
            self.leases[member] = 0
        return succeed(0)

    def finish(self, task, outcome, page, images, links, found_on, max_found_on):
        self._record("finish", task, outcome, page, images, links, found_on, max_found_on)
        job_id, depth, url = task.job, task.depth, task.url
        self._drop_lease(keys.lease_member(job_id, depth, url))
        job = self.hashes.get(job_id)
        if job is None or job["status"] not in _LIVE:
            return succeed(-1)
        if not self._record_page(job_id, url, json.dumps(page), outcome):
            return succeed(-2)
        records, order = self.image_records[job_id], self.image_order[job_id]
        for image in images:
            image_url, kinds = image[0], image[1]
            alt = image[2] if len(image) > 2 else None
            stored = records.get(image_url)
            if stored is not None:
                record = json.loads(stored)
                known = set(record["sources"])
                record["sources"] += [kind for kind in kinds if kind not in known]
                if found_on not in record["found_on"] and len(record["found_on"]) < max_found_on:
                    record["found_on"].append(found_on)
                if not record.get("alt") and alt:
                    record["alt"] = alt
            else:
                record = {"sources": list(kinds), "found_on": [found_on]}
                if alt is not None:
                    record["alt"] = alt
                order.append(image_url)
                self._add(job, "images_found", 1)
            records[image_url] = json.dumps(record)
        if found_on != url:       # a redirect target is this page: never a new link
            self.seen[job_id].add(found_on)
        admitted = 0
        total, max_pages = int(job["pages_admitted"]), int(job["max_pages"])
        if depth < int(job["max_depth"]):
            for link in links:
                if total >= max_pages:
                    break
                if link not in self.seen[job_id]:
                    self.seen[job_id].add(link)
                    self.frontiers[job_id].append((str(depth + 1), link))
                    total += 1
                    admitted += 1
        if admitted > 0:
            job["pages_admitted"] = str(total)
            self._add(job, "pending", admitted)
        self._settle(job_id, repr(self._now()))
        return succeed(admitted)

    async def reap(self, max_attempts, max_pushes, limit=500):
        self._record("reap", max_attempts, max_pushes, limit)
        now = self._now()
        claimed = [member for _, member in sorted(
            (deadline, member) for member, deadline in self.leases.items() if deadline <= now
        )[:limit]]
        claimed += [member for member, owner in self.lease_owner.items()
                    if self.workers.get(owner, float("-inf")) < now]
        requeued = failed = 0
        for member in claimed:
            if not self._drop_lease(member):
                continue
            job_id, depth, url = member.split(" ", 2)
            job = self.hashes.get(job_id)
            if job is None or job["status"] not in _LIVE or url in self.page_records[job_id]:
                continue
            attempts = self.attempts[job_id].get(url, 0)
            pushes = self.pushes[job_id].get(url, 0)
            if attempts >= max_attempts or pushes >= max_pushes:
                reason = (f"gave up after {attempts} attempts ({pushes} deliveries): "
                          "lease expired")
                record = {"url": url, "depth": int(depth), "status": "error",
                          "error": reason, "attempt": attempts}
                self._record_page(job_id, url, json.dumps(record), "failed")
                self._settle(job_id, repr(now))
                failed += 1
            else:
                self.frontiers[job_id].appendleft((depth, url))
                self._add(job, "pages_retried", 1)
                requeued += 1
        return requeued, failed

    def heartbeat(self, worker, ttl, slots):
        self._record("heartbeat", worker, ttl, slots)
        now = self._now()
        for gone in [w for w, expiry in self.workers.items() if expiry <= now]:
            del self.workers[gone]
            self.worker_slots.pop(gone, None)
        if now + ttl > now:       # alive, perhaps with 0 slots (draining)
            self.workers[worker] = now + ttl
            self.worker_slots[worker] = slots
        else:
            self.workers.pop(worker, None)
            self.worker_slots.pop(worker, None)
        return succeed(len(self.workers))

    async def backlog(self):
        self._record("backlog")
        now = self._now()
        return {"leased": len(self.leases),
                "workers": sum(1 for expiry in self.workers.values() if expiry >= now)}

    def ping(self, timeout):
        self._record("ping", timeout)
        if self.ping_error is not None:
            return fail(self.ping_error)
        if self.ping_hangs:
            return Deferred().addTimeout(timeout, self.clock)
        return succeed("PONG")

    # -- the Lua helpers of lib.lua -------------------------------------------

    def _drop_lease(self, member):
        """A lease ends; True when it was held."""
        self.lease_owner.pop(member, None)
        return self.leases.pop(member, None) is not None

    @staticmethod
    def _add(job, field, amount):
        job[field] = str(int(job.get(field, "0")) + amount)

    def _record_page(self, job_id, url, page_json, outcome):
        if url in self.page_records[job_id]:
            return False
        self.page_records[job_id][url] = page_json
        self.page_order[job_id].append(url)
        self._add(self.hashes[job_id], f"pages_{outcome}", 1)
        return True

    def _settle(self, job_id, now):
        job = self.hashes[job_id]
        self._add(job, "pending", -1)
        if int(job["pending"]) <= 0:
            job.update(status="completed", finished_at=now)
            self._drop_transient(job_id)

    def _drop_transient(self, job_id):
        self.frontiers[job_id] = deque()
        self.seen[job_id] = set()
        self.attempts[job_id] = {}
        self.pushes[job_id] = {}
        while job_id in self.active:
            self.active.remove(job_id)


# --- ZeroMQ, in memory ------------------------------------------------------------


class FakeZmqFactory:
    def __init__(self, reactor):
        self.reactor = reactor
        self.shut_down = False

    def shutdown(self):
        self.shut_down = True


class FakePush:
    """A PUSH socket: C{sent} holds what went out; C{room} (None: no limit)
    is how many more messages it takes before a send would block."""

    def __init__(self, how, address, hwm):
        self.how, self.address, self.hwm = how, address, hwm
        self.sent = []
        self.room = None

    def take(self):
        if self.room is not None and self.room <= 0:
            return False
        if self.room is not None:
            self.room -= 1
        return True


class FakePull:
    def __init__(self, how, address, hwm, on_message):
        self.how, self.address, self.hwm = how, address, hwm
        self.on_message = on_message

    def deliver(self, raw):
        self.on_message(raw)


class FakeWire:
    """Stand-ins for L{common.wire}'s functions; install with C{install(monkeypatch)}."""

    def __init__(self):
        self.factories = []
        self.pushes = []
        self.pulls = []

    def install(self, monkeypatch):
        from common import wire
        for name in ("factory", "push", "pull", "can_send", "send"):
            monkeypatch.setattr(wire, name, getattr(self, name))
        return self

    def factory(self, reactor):
        self.factories.append(FakeZmqFactory(reactor))
        return self.factories[-1]

    def push(self, zmq_factory, how, address, hwm):
        self.pushes.append(FakePush(how, address, hwm))
        return self.pushes[-1]

    def pull(self, zmq_factory, how, address, hwm, on_message):
        self.pulls.append(FakePull(how, address, hwm, on_message))
        return self.pulls[-1]

    @staticmethod
    def can_send(connection):
        return connection.room is None or connection.room > 0

    @staticmethod
    def send(connection, message):
        assert isinstance(message, bytes)
        if not connection.take():
            return False
        connection.sent.append(message)
        return True
