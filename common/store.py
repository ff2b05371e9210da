"""
The job store: every read and write of crawl state, over txredisapi.

Writes are the Lua scripts of L{common.scripts}, one atomic step each; the
reads here are plain commands.  Time comes from the C{clock} passed in, so
the same store runs under a real reactor or a test's L{Clock}.
"""

import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import txredisapi
from twisted.application.service import Service
from twisted.internet.defer import gatherResults

from common import keys, scripts
from common.messages import Task, is_job_id

COUNTERS = (
    "pages_admitted", "pages_crawled", "pages_failed", "pages_skipped",
    "pages_retried", "images_found",
)


def connect(redis_url, poolsize=4):
    """
    A reconnecting Redis pool; commands wait while Redis restarts.

    Numbers are not converted: a page URL like C{"/2024"} must stay a string.
    """
    parts = urlsplit(redis_url)
    return txredisapi.lazyConnectionPool(
        host=parts.hostname or "localhost",
        port=parts.port or 6379,
        dbid=int(parts.path.strip("/") or 0),
        password=parts.password,
        poolsize=poolsize,
        reconnect=True,
        convertNumbers=False,
        connectTimeout=5,
        replyTimeout=30,
    )


class ConnectionService(Service):
    """Owns the Redis pool: closes it when the process stops, last."""

    def __init__(self, redis):
        self.redis = redis

    def stopService(self):
        super().stopService()
        return self.redis.disconnect()


@dataclass(frozen=True)
class StartResult:
    """What a worker's start step decided: go (with the attempt) or drop (why)."""

    go: bool
    attempt: int = 0
    reason: str = ""
    settings: dict | None = None


class JobStore:
    def __init__(self, redis, clock, job_ttl=0):
        """
        @param job_ttl: seconds a finished job's results are kept (0: forever).
        """
        self.redis = redis
        self.clock = clock
        self.job_ttl = job_ttl

    def create(self, urls, options):
        """
        Record a new job with its start URLs admitted at depth 0.

        @param urls: normalised, unique start URLs, at most C{max_pages}.
        @return: a L{Deferred} firing with the new job id.
        """
        job_id = uuid.uuid4().hex
        d = scripts.CREATE_JOB(
            self.redis, job_id, repr(self.clock.seconds()),
            json.dumps(urls), json.dumps(options),
            options["max_depth"], options["max_pages"], options["scope"], self.job_ttl, *urls,
        )
        return d.addCallback(lambda _: job_id)

    def job(self, job_id):
        """
        The job's hash as a dict, or C{None} for an unknown id.

        @raise ValueError: for a malformed id, which never reaches a key.
        """
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.redis.hgetall(keys.job(job_id)).addCallback(lambda h: h or None)

    async def recent_jobs(self, offset, limit):
        ids = await self.redis.zrevrange(keys.JOBS, offset, offset + limit - 1)
        found = await gatherResults([self.redis.hgetall(keys.job(i)) for i in ids])
        return [job for job in found if job]

    async def _slice(self, job_id, list_part, hash_part, offset, limit):
        urls = await self.redis.lrange(keys.job(job_id, list_part), offset, offset + limit - 1)
        if not urls:
            return []
        records = await self.redis.hmget(keys.job(job_id, hash_part), urls)
        return [(url, json.loads(record)) for url, record in zip(urls, records) if record]

    def images(self, job_id, offset, limit):
        """Up to C{limit} C{(url, record)} pairs in the order images were first found."""
        return self._slice(job_id, "images", "image", offset, limit)

    def pages(self, job_id, offset, limit):
        """Up to C{limit} C{(url, record)} pairs in the order pages finished."""
        return self._slice(job_id, "pages", "page", offset, limit)

    def cancel(self, job_id):
        """Cancel a live job; fires with the status after the call (or None)."""
        return scripts.CANCEL(self.redis, job_id, repr(self.clock.seconds()))

    async def lease(self, lease_seconds, want):
        """Lease up to C{want} tasks, fairly across jobs, within worker capacity."""
        raw = await scripts.LEASE(self.redis, repr(self.clock.seconds()), lease_seconds, want)
        return [Task(**json.loads(t)) for t in raw]

    async def start(self, task, lease_seconds, want_settings, worker):
        """Renew C{task}'s lease for C{worker} and count the attempt."""
        reply = await scripts.START(
            self.redis, task.job, task.depth, task.url,
            repr(self.clock.seconds()), lease_seconds, "1" if want_settings else "0", worker,
        )
        if reply[0] != "go":
            return StartResult(go=False, reason=reply[1])
        settings = None
        if want_settings:
            settings = {"urls": json.loads(reply[2]), "scope": reply[3], "max_depth": int(reply[4])}
        return StartResult(go=True, attempt=int(reply[1]), settings=settings)

    def release(self, task):
        """
        Hand a task back: its lease expires now, so the reaper requeues it
        (or fails it, once its attempts are spent) on its next round.
        """
        member = keys.lease_member(task.job, task.depth, task.url)
        return self.redis.execute_command("ZADD", keys.LEASES, "XX", 0, member)

    def finish(self, task, outcome, page, images, links, found_on, max_found_on):
        """
        Record a finished page atomically.

        @param outcome: C{"crawled"}, C{"failed"} or C{"skipped"}.
        @param images: C{[[url, [kinds...]], or [url, [kinds...], alt]...]}.
        @param links: normalised in-scope links, in document order.
        @return: a L{Deferred} firing with the number of links admitted,
            -1 when the job is no longer live, -2 for a page recorded before.
        """
        d = scripts.FINISH(
            self.redis, task.job, task.depth, task.url, outcome,
            json.dumps(page, separators=(",", ":")),
            json.dumps(images, separators=(",", ":")),
            json.dumps(links, separators=(",", ":")),
            found_on, max_found_on, repr(self.clock.seconds()),
        )
        return d.addCallback(int)

    async def reap(self, max_attempts, max_pushes, limit=500):
        """Requeue or fail tasks whose lease ran out; fires with C{(requeued, failed)}."""
        requeued, failed = await scripts.REAP(
            self.redis, repr(self.clock.seconds()), max_attempts, max_pushes, limit)
        return int(requeued), int(failed)

    def heartbeat(self, worker, ttl, slots):
        """
        Announce C{worker} alive for C{ttl} seconds with C{slots} free for
        new tasks (0 while draining); a C{ttl} of 0 says it has left.
        """
        now = self.clock.seconds()
        return scripts.HEARTBEAT(self.redis, worker, repr(now), repr(now + ttl), slots)

    async def backlog(self):
        """Leased tasks and live workers, for /metrics and /readyz."""
        leases, workers = await gatherResults([
            self.redis.zcard(keys.LEASES),
            self.redis.zcount(keys.WORKERS, self.clock.seconds(), "+inf"),
        ])
        return {"leased": int(leases), "workers": int(workers)}

    def ping(self, timeout):
        """Fails when Redis does not answer within C{timeout} seconds."""
        return self.redis.ping().addTimeout(timeout, self.clock)
