"""
The job store's contract harness, shared by test_store_contract.py and
test_store_scheduling.py: the C{store} fixture runs each test twice, against
the real L{common.store.JobStore} over L{tests.fakes.FakeRedis} (as the unit
tests' L{tests.fakes.FakeStore}) and over txredisapi on a redis-server of
its own (the C{redis_server} fixture).

The real store speaks txredisapi, which needs a running reactor: the
global reactor runs in one thread for the whole session and each call is
made in it, the test thread waiting for the answer.  Both stores take
their time from a L{Clock} that the test advances, so lease expiry,
heartbeats and host delays need no sleeping.
"""

import queue
import threading
from dataclasses import replace

import pytest
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from common import keys
from common import store as store_module
from common.store import COUNTERS, JobStore
from tests.fakes import FakeStore

T0 = 1_700_000_000.0
LEASE = 60
# Limits loose enough that only the tests about them meet them.
OPTIONS = {"max_depth": 1, "scope": "host", "max_pages": 1000,
           "host_concurrency": 1000, "host_delay": 0.0}


def result_of(d):
    """The result of a Deferred that must have fired already."""
    results = []
    d.addBoth(results.append)
    assert results, f"{d!r} has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def urls(n, host="a.example"):
    return [f"http://{host}/{i}" for i in range(n)]


def untokened(tasks):
    """C{tasks} without their lease tokens, to compare with plain L{Task}s."""
    return [replace(task, lease=0) for task in tasks]


# --- running the real store in a reactor thread -----------------------------------------


class ReactorThread:
    def __init__(self):
        from twisted.internet import reactor
        self.reactor = reactor
        self.thread = threading.Thread(
            target=reactor.run, kwargs={"installSignalHandlers": False},
            name="reactor", daemon=True)

    def start(self):
        self.thread.start()
        self.call(lambda: None)
        return self

    def call(self, f, *args, timeout=15):
        """Run C{f(*args)} in the reactor thread; wait for its (Deferred) result."""
        answers = queue.Queue()

        def run():
            maybeDeferred(f, *args).addBoth(answers.put)

        self.reactor.callFromThread(run)
        try:
            result = answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the reactor thread within {timeout} s") from None
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def stop(self):
        self.reactor.callFromThread(self.reactor.stop)
        self.thread.join(15)


@pytest.fixture(scope="session")
def reactor_thread():
    thread = ReactorThread().start()
    yield thread
    thread.stop()


class Harness:
    """A store whose methods block until their result; the clock to move time."""

    def __init__(self, kind, store, clock, run):
        self.kind = kind
        self.store = store
        self.clock = clock
        self._run = run

    def __getattr__(self, name):
        method = getattr(self.store, name)
        return lambda *args, **kwargs: self._run(lambda: method(*args, **kwargs))

    def advance(self, seconds):
        self.clock.advance(seconds)

    def command(self, name, *args):
        """A call of the store's Redis connection (txredisapi's API), blocking."""
        method = getattr(self.store.redis, name)
        return self._run(lambda: method(*args))

    # shortcuts used throughout

    def new_job(self, urls, robots=False, **options):
        """A job with L{OPTIONS} but for C{options}; robots.txt ignored unless C{robots}."""
        return self.create(urls, {**OPTIONS, **options}, robots)

    def tasks(self, want=10, accept=LEASE):
        """The tasks of one lease round (without its next wake-up)."""
        tasks, _ = self.lease(accept, want)
        return tasks

    def counters(self, job_id):
        job = self.job(job_id)
        return {name: int(job[name]) for name in (*COUNTERS, "pending")}

    def status(self, job_id):
        return self.job(job_id)["status"]

    def accept(self, task, worker="w1", reserve=True):
        """Start C{task} as a worker does on arrival (with a slot free: C{reserve})."""
        return self.start(task, LEASE, False, worker, reserve)

    def crawl(self, task, links=(), images=(), outcome="crawled", found_on=None,
              max_found_on=100, page=None):
        """Start and finish C{task} the way a worker does; the finish result."""
        started = self.accept(task)
        assert started.go, started
        return self.done(task, links, images, outcome, found_on, max_found_on, page)

    def done(self, task, links=(), images=(), outcome="crawled", found_on=None,
             max_found_on=100, page=None):
        """Finish a started C{task}; the finish result."""
        page = page or {"url": task.url, "depth": task.depth, "status": 200}
        return self.finish(task, outcome, page, list(images), list(links),
                           found_on or task.url, max_found_on)

    def record_robots(self, task, outcome, body="", crawl_delay=0, keep=3600,
                      note="robots.txt unreachable: HTTP 503", fetched_at=None,
                      max_tries=3, retry_seconds=10):
        """What a worker with C{task}'s robots.txt duty stores (L{JobStore.store_robots})."""
        if fetched_at is None:
            fetched_at = self.clock.seconds()
        return self.store_robots(task, outcome, body, crawl_delay, keep, note, fetched_at,
                                 max_tries, retry_seconds)

    # looking inside, where no public method shows it

    def host_field(self, host, field):
        return self.command("hget", keys.host(host), field)

    def ready_hosts(self):
        return self.command("zrange", keys.READY, 0, -1)

    def exists(self, key):
        return bool(self.command("exists", key))


@pytest.fixture(params=["fake", "redis"])
def store(request):
    clock = Clock()
    clock.advance(T0)
    if request.param == "fake":
        yield Harness("fake", FakeStore(clock), clock, lambda f: result_of(maybeDeferred(f)))
        return
    server = request.getfixturevalue("redis_server")
    thread = request.getfixturevalue("reactor_thread")
    redis = thread.call(store_module.connect, server.url, 2)
    try:
        yield Harness("redis", JobStore(redis, clock), clock, thread.call)
    finally:
        thread.call(redis.disconnect)
