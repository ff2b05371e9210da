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
from twisted.internet.error import ConnectionLost, ConnectionRefusedError, TimeoutError

from common import keys, scripts
from common.messages import Task, is_job_id

# How a Redis that is restarting or unreachable fails a call: expected,
# tried again, and logged without a traceback.
REDIS_DOWN = (txredisapi.ConnectionError, ConnectionLost, ConnectionRefusedError, TimeoutError)
# Error replies of a Redis that is up but not ready: loading its data after
# a restart, busy with a script, or failing over.
_NOT_READY = ("LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN")


def redis_down(error):
    """
    Whether C{error} says Redis is away or not ready yet, so the call is to
    be tried again, rather than a bug: right after a restart Redis answers
    "LOADING" while it reads its append-only file back.
    """
    if isinstance(error, REDIS_DOWN):
        return True
    return isinstance(error, txredisapi.ResponseError) and str(error).startswith(_NOT_READY)

COUNTERS = (
    "pages_admitted", "pages_crawled", "pages_failed", "pages_skipped",
    "pages_retried", "images_found",
)


# Admission control's script; see L{JobStore.admit}.
_ADMIT = scripts.Script("admit")


def connect(redis_url, poolsize=4):
    """
    A reconnecting Redis pool; commands wait while Redis restarts.

    Numbers are not converted: a page URL like C{"/2024"} must stay a string.
    """
    parts = urlsplit(redis_url)
    pool = txredisapi.lazyConnectionPool(
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
    # Reconnect within a second or two of Redis coming back (txredisapi
    # backs off to 10 s by default): a restart must cost seconds, not more.
    pool._factory.maxDelay = 2
    return pool


class ConnectionService(Service):
    """Owns the Redis pool: closes it when the process stops, last."""

    def __init__(self, redis):
        self.redis = redis

    def stopService(self):
        super().stopService()
        return self.redis.disconnect()


@dataclass(frozen=True)
class StartResult:
    """
    What a worker's start step decided: go (with the attempt), wait (the
    host is not due: the task went to the delayed set until C{due}), or
    drop (why).  C{robots} says what to do about robots.txt (see
    C{lua/start.lua}); C{paced} that the host has a delay, so a start after
    waiting in the worker's queue must reserve it (L{JobStore.reserve}).
    """

    go: bool
    attempt: int = 0
    reason: str = ""
    settings: dict | None = None
    robots: str = ""
    paced: bool = False
    tries: tuple = ()
    due: float | None = None


@dataclass(frozen=True)
class AdmissionLimits:
    """
    The limits L{JobStore.admit} applies, rates per second: a rate of 0
    turns its token bucket off, a C{live_jobs} of 0 the cap on a client's
    queued and running jobs.  A bucket holds at most its burst.
    """

    client_rate: float = 0.0
    client_burst: int = 1
    total_rate: float = 0.0
    total_burst: int = 1
    live_jobs: int = 0
    pages_rate: float = 0.0
    pages_burst: int = 0


@dataclass(frozen=True)
class AdmissionVerdict:
    """
    What C{lua/admit.lua} decided: admitted, or the C{limit} that refused
    (C{"live_jobs"}, C{"client_rate"}, C{"total_rate"} or C{"pages"}),
    C{wait} seconds until it would admit (None for C{live_jobs}: until a
    job ends) and the client's C{pages_left} (None without a page budget).
    """

    admitted: bool
    limit: str = ""
    wait: float | None = None
    pages_left: int | None = None


class JobStore:
    def __init__(self, redis, clock, job_ttl=0):
        """
        @param job_ttl: seconds a finished job's results are kept (0: forever).
        """
        self.redis = redis
        self.clock = clock
        self.job_ttl = job_ttl

    def create(self, urls, options, obey_robots=True, client=""):
        """
        Record a new job with its start URLs admitted at depth 0.

        @param urls: normalised, unique start URLs, at most C{max_pages}.
        @param options: validated options (L{api.input.parse_options}).
        @param client: who asked (L{api.admission.client_id}); the job
            counts among its live jobs until it ends.
        @return: a L{Deferred} firing with the new job id.
        """
        job_id = uuid.uuid4().hex
        d = scripts.CREATE_JOB(
            self.redis, job_id, repr(self.clock.seconds()),
            json.dumps(urls), json.dumps(options),
            keys.depth_limit(options["max_depth"]), options["max_pages"], options["scope"],
            self.job_ttl,
            options["host_concurrency"], repr(float(options["host_delay"])),
            "1" if obey_robots else "0", client, *urls,
        )
        return d.addCallback(lambda _: job_id)

    async def admit(self, client, pages, limits):
        """
        Admit a job of C{client} that may crawl C{pages} pages under
        C{limits} (L{AdmissionLimits}), atomically for every API process
        sharing this Redis: either every bucket pays, or none does and the
        verdict names the limit.  Record the job with L{create} and the
        same C{client}, so it counts against the cap on live jobs.

        @return: an L{AdmissionVerdict}.
        """
        reply = await _ADMIT(
            self.redis, repr(self.clock.seconds()), client, pages,
            repr(float(limits.client_rate)), limits.client_burst,
            repr(float(limits.total_rate)), limits.total_burst, limits.live_jobs,
            repr(float(limits.pages_rate)), limits.pages_burst)
        if reply[0] == "ok":
            return AdmissionVerdict(admitted=True)
        return AdmissionVerdict(
            admitted=False, limit=reply[0], wait=float(reply[1]) if reply[1] else None,
            pages_left=int(reply[2]) if reply[2] else None)

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

    async def lease(self, accept_seconds, want):
        """
        Lease up to C{want} tasks within every host's limits and the
        workers' capacity, each for C{accept_seconds} until a worker takes
        it on.  Fires with C{(tasks, next_wake)}: the epoch time when a
        waiting host or retry is next due, or None.
        """
        raw = await scripts.LEASE(self.redis, repr(self.clock.seconds()), accept_seconds, want)
        wake = float(raw[0]) if raw[0] else None
        return [Task(**json.loads(t)) for t in raw[1:]], wake

    async def start(self, task, lease_seconds, want_settings, worker, reserve):
        """
        Take C{task} on for C{worker}: renew its lease, count the attempt;
        with C{reserve}, also reserve its host's next fetch start.
        """
        reply = await scripts.START(
            self.redis, *_task_args(task), repr(self.clock.seconds()), lease_seconds,
            "1" if want_settings else "0", worker, "1" if reserve else "0",
        )
        if reply[0] == "drop":
            return StartResult(go=False, reason=reply[1])
        if reply[0] == "wait":
            return StartResult(go=False, reason="host not due", due=float(reply[1]))
        settings = None
        if want_settings:
            # The job's options, whatever they are (scope, max_depth,
            # include, exclude, sitemaps, ...), as the API validated them.
            settings = {"urls": json.loads(reply[5]), **json.loads(reply[6])}
        return StartResult(
            go=True, attempt=int(reply[1]), settings=settings, robots=reply[2],
            paced=reply[3] == "1", tries=tuple(json.loads(reply[4])) if reply[4] else ())

    async def reserve(self, task):
        """
        Reserve the fetch start of an accepted task on a paced host; fires
        with None when it may start now, else with the time it went to the
        delayed set for (or C{"lost"} when its lease is no longer its own,
        or its job ended or its page was recorded meanwhile).
        """
        reply = await scripts.RESERVE(self.redis, *_task_args(task), repr(self.clock.seconds()))
        if reply[0] == "go":
            return None
        return float(reply[1]) if reply[0] == "wait" else "lost"

    async def pace(self, host):
        """
        Reserve the next fetch start on C{host} for a fetch outside any task
        (a sitemap); fires with None when it may start now, else with the
        time it may (ask again then).
        """
        due = await scripts.PACE(self.redis, host, repr(self.clock.seconds()))
        return float(due) if due else None

    def release(self, task, attempted):
        """
        Hand a task back untried: to the front of its queue at once, at the
        cost of neither an attempt nor a delivery.

        @param attempted: whether L{start} counted an attempt for it.
        """
        return scripts.RELEASE(self.redis, *_task_args(task), "1" if attempted else "0")

    def retry(self, task, due, pause, outcome):
        """
        Put a task that failed in a way that may pass in the delayed set
        until C{due}; with C{pause} (epoch seconds) its whole host waits
        until then.  C{outcome} (a dict) joins the page's history.
        """
        return scripts.RETRY(
            self.redis, *_task_args(task), repr(due), "" if pause is None else repr(pause),
            json.dumps(outcome, separators=(",", ":")))

    def store_robots(self, task, outcome, body, crawl_delay, keep, note, fetched_at,
                     max_tries, retry_seconds):
        """
        Record, for the pool, the robots.txt that C{task}'s worker fetched
        (C{lua/robots.lua}); the task goes back to its queue.

        @param outcome: C{"rules"} (C{body} is the text), C{"allow"} or C{"fail"}.
        """
        return scripts.ROBOTS(
            self.redis, *_task_args(task), repr(self.clock.seconds()), outcome, body or "",
            repr(float(crawl_delay)), keep, note, repr(fetched_at), max_tries, retry_seconds)

    def robots_rules(self, host):
        """The robots.txt body the pool obeys for C{host}, or None."""
        return self.redis.get(keys.host(host, "robots"))

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
            self.redis, *_task_args(task), outcome,
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

    async def live_workers(self):
        """The ids of the workers whose heartbeat has not run out."""
        return await self.redis.zrangebyscore(keys.WORKERS, self.clock.seconds(), "+inf")

    def ping(self, timeout):
        """Fails when Redis does not answer within C{timeout} seconds."""
        return self.redis.ping().addTimeout(timeout, self.clock)


def _task_args(task):
    """How the scripts name a task's lease: job, depth, url, push token."""
    return task.job, task.depth, task.url, task.lease
