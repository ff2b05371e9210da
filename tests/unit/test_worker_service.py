"""
worker.service.WorkerService and worker.crawl.Crawler driven with a
MemoryReactorClock, a FakeStore (the real Lua over fakeredis), the inline
parser and a fetcher whose answers the test gives; ZeroMQ is
tests.fakes.FakeWire; fatal errors go to the real common.process.Fatal.
"""

import dataclasses

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.internet.testing import MemoryReactorClock

from common import keys
from common.config import from_env
from common.messages import decode_notice, encode_task
from common.process import Fatal
from tests.fakes import FakeStore, FakeWire, InlineParser
from worker.crawl import Crawler
from worker.fetch import Fetched
from worker.robots import PoolRobots
from worker.service import WorkerService
from worker.sitemaps import SitemapReader

T0 = 1_700_000_000.0
OPTIONS = {"max_depth": 1, "scope": "host", "max_pages": 100_000,
           "host_concurrency": 100_000, "host_delay": 0.0}
PAGE = (b"<html><body><img src='/img.png' alt='pic'>"
        b"<a href='/next'>next</a><a href='http://elsewhere.example/'>x</a></body></html>")


class FakeFetcher:
    """fetch() hands out Deferreds the test fires; remembers cancellations."""

    def __init__(self):
        self.pending = {}
        self.cancelled = []
        self.closed = False
        self.fetched = []

    def fetch(self, url, any_type=False, limit=None, max_redirects=None):
        self.fetched.append(url)
        d = Deferred(lambda d: self.cancelled.append(url))
        self.pending.setdefault(url, []).append(d)
        return d

    def in_flight(self):
        return sum(1 for ds in self.pending.values() for d in ds if not d.called)

    def answer(self, url, body=PAGE, status=200, content_type="text/html", retry_after=None):
        d = next(d for d in self.pending[url] if not d.called)
        d.callback(Fetched(url, status, content_type, body, retry_after=retry_after))


class Harness:
    def __init__(self, monkeypatch, tmp_path, **settings):
        self.clock = MemoryReactorClock()
        self.clock.advance(T0)
        self.clock.running = True
        self.config = dataclasses.replace(from_env({}), **{
            "worker_id": "w1", "worker_concurrency": 2, "heartbeat_seconds": 2.0,
            "drain_seconds": 20.0, "lease_seconds": 60.0, "max_attempts": 3,
            "zmq_tasks_connect": "tcp://api:9050", "zmq_links_connect": "tcp://api:9051",
            "worker_heartbeat_file": str(tmp_path / "alive"), **settings})
        self.store = FakeStore(self.clock)
        self.fetcher = FakeFetcher()
        self.parser = InlineParser(self.config.max_urls_per_page)
        self.wire = FakeWire().install(monkeypatch)
        self.fatal = Fatal(self.clock)
        robots = PoolRobots(self.store, self.fetcher, self.config, self.clock)
        sitemaps = SitemapReader(self.fetcher, self.store, self.clock, self.config,
                                 lambda f, *args: f(*args))
        self.crawler = Crawler(self.store, self.fetcher, self.parser, robots, sitemaps,
                               self.config, self.clock)
        self.service = WorkerService(self.clock, self.config, self.store, self.crawler, self.fatal)
        self.job_id = None

    def start(self):
        self.service.startService()
        return self

    def tasks(self, count, host="a.example", robots=False, **options):
        """Create a job of C{count} start pages and lease them (as the API would)."""
        self.job_id = self.store.create(
            [f"http://{host}/{i}" for i in range(count)], {**OPTIONS, **options}, robots).result
        self.store.heartbeat("api-side", 100_000, 10_000)
        return self.lease(count)

    def lease(self, want):
        leased = []
        Deferred.fromCoroutine(self.store.lease(6, want)).addCallback(lambda r: leased.extend(r[0]))
        return leased

    def deliver(self, *tasks):
        for task in tasks:
            self.wire.pulls[0].deliver(encode_task(task))

    def notices(self):
        """The notices sent once the current reactor turn is over."""
        self.clock.advance(0)
        return [decode_notice(raw) for raw in self.wire.pushes[0].sent]

    def heartbeats(self):
        return [args for args in self.store.called("heartbeat") if args[0] == "w1"]

    def released(self):
        return [task for task, _ in self.store.called("release")]


@pytest.fixture
def h(monkeypatch, tmp_path):
    return Harness(monkeypatch, tmp_path)


def result_of(d):
    results = []
    d.addBoth(results.append)
    assert results, f"{d!r} has not fired"
    return results[0]


# --- start and heartbeat ----------------------------------------------------------------


def test_start_connects_both_sockets(h):
    h.start()
    [pull], [push] = h.wire.pulls, h.wire.pushes
    assert (pull.how, pull.address, pull.hwm) == ("connect", "tcp://api:9050", 4)
    assert (push.how, push.address) == ("connect", "tcp://api:9051")


def test_heartbeat_announces_twice_the_concurrency(h, tmp_path):
    h.start()
    assert h.heartbeats() == [("w1", 6.0, 4)]
    assert (tmp_path / "alive").exists()
    h.clock.advance(2)
    h.clock.advance(2)
    assert h.heartbeats() == [("w1", 6.0, 4)] * 3


def test_heartbeat_failure_is_survived(h):
    calls = []

    def broken(worker, ttl, slots):
        calls.append(slots)
        return fail(ConnectionError("redis is down"))

    h.store.heartbeat = broken
    h.start()
    h.clock.advance(2)
    assert calls == [4, 4]


# --- crawling ----------------------------------------------------------------------------


def test_a_task_is_crawled_and_a_notice_sent(h):
    h.start()
    [task] = h.tasks(1)
    h.deliver(task)
    assert h.fetcher.fetched == [task.url]
    h.fetcher.answer(task.url)
    assert h.notices() == [(h.job_id, 1)]       # /next admitted; elsewhere is out of scope
    [(_, outcome, page, images, links, found_on, _)] = h.store.called("finish")
    assert outcome == "crawled" and found_on == task.url
    assert images == [["http://a.example/img.png", ["img"], "pic"]]
    assert links == ["http://a.example/next"]
    assert page["worker"] == "w1" and page["status"] == 200
    assert h.service.crawled == 1


def test_at_most_concurrency_crawls_in_flight(h):
    h.start()
    tasks = h.tasks(5)
    h.deliver(*tasks)
    assert h.fetcher.in_flight() == 2
    assert h.fetcher.fetched == [tasks[0].url, tasks[1].url]
    h.fetcher.answer(tasks[0].url)
    assert h.fetcher.in_flight() == 2
    assert h.fetcher.fetched[-1] == tasks[2].url
    for task in tasks[1:]:
        h.fetcher.answer(task.url)
        assert h.fetcher.in_flight() <= 2
    assert h.fetcher.in_flight() == 0
    assert len(h.notices()) == 1, "pages finished in one reactor turn make one notice"


def test_one_notice_per_reactor_turn(h):
    h.start()
    tasks = h.tasks(3)
    h.deliver(*tasks)
    h.fetcher.answer(tasks[0].url)
    h.fetcher.answer(tasks[1].url)
    assert len(h.notices()) == 1
    h.fetcher.answer(tasks[2].url)
    assert len(h.notices()) == 2


def test_a_task_delivered_twice_still_counts_against_concurrency(h):
    h.start()
    tasks = h.tasks(2)
    h.deliver(tasks[0], tasks[0], tasks[1])
    assert h.fetcher.in_flight() == 2
    d = h.service.stopService()
    h.fetcher.answer(tasks[0].url)
    assert h.fetcher.in_flight() == 1
    assert not d.called                 # the second copy is still awaited
    h.fetcher.answer(tasks[0].url)
    assert d.called
    assert h.released() == [tasks[1]]   # queued behind them, handed back


def test_the_local_queue_is_bounded_and_overflow_handed_back(h):
    h.start()
    tasks = h.tasks(13)
    h.deliver(*tasks)                  # 4 * 2 held (2 of them running), 5 too many
    assert h.fetcher.in_flight() == 2
    assert h.released() == tasks[8:]
    lease = keys.lease_member(h.job_id, 0, tasks[8].url)
    assert h.store.redis_state.zscore(keys.LEASES, lease) is None   # back on its queue
    assert [t.url for (t, *_) in h.store.called("start")] == [t.url for t in tasks[:8]]
    # Handed back at no cost: leased again, as first tries.
    again = h.lease(10)
    assert sorted(t.url for t in again) == sorted(t.url for t in tasks[8:])
    assert all(t.attempt == 1 for t in again)
    h.deliver(*again)
    assert h.released() == tasks[8:] + again, "the worker still holds at most 4 x concurrency"


def test_a_bad_task_message_is_ignored(h):
    h.start()
    h.wire.pulls[0].deliver(b"not a task")
    h.wire.pulls[0].deliver(b'{"job": "x", "url": "http://a/", "depth": 0}')
    assert h.fetcher.fetched == []
    assert h.store.called("start") == []


def test_a_dropped_task_sends_no_notice(h):
    h.start()
    [task] = h.tasks(1)
    h.store.cancel(h.job_id)
    h.deliver(task)
    assert h.fetcher.fetched == []
    assert h.notices() == []
    assert h.service.crawled == 0


def test_a_retryable_failure_waits_in_redis_for_its_backoff(h):
    h.start()
    [task] = h.tasks(1)
    h.deliver(task)
    h.fetcher.answer(task.url, body=None, status=503)
    [(retried, due, pause, outcome)] = h.store.called("retry")
    assert retried == task and pause is None
    assert T0 + 0.5 <= due <= T0 + 1.0, "the first retry waits half to all of RETRY_BASE_SECONDS"
    assert outcome["error"] == "HTTP 503" and outcome["attempt"] == 1
    assert h.store.called("finish") == []
    assert h.notices() == [(h.job_id, 0)], "the API hears of it, to set its timer"
    assert h.fetcher.in_flight() == 0 and h.service._held == 0, "the slot is free"


def test_retry_after_is_obeyed_and_pauses_the_host(h):
    h.start()
    [task] = h.tasks(1)
    h.deliver(task)
    h.fetcher.answer(task.url, body=None, status=503, retry_after=7.0)
    [(_, due, pause, _)] = h.store.called("retry")
    assert due >= T0 + 7.0 and pause == due


def test_a_retried_page_shows_its_tries_and_its_final_outcome(h):
    h.start()
    [task] = h.tasks(1)
    for attempt in (1, 2):
        h.deliver(task)
        h.fetcher.answer(task.url, body=None, status=500)
        h.clock.advance(10)
        (task,) = h.lease(1)
        assert task.attempt == attempt + 1
    h.deliver(task)
    h.fetcher.answer(task.url, body=None, status=500)
    [(_, outcome, page, *_)] = h.store.called("finish")
    assert outcome == "failed" and page["status"] == 500 and page["attempt"] == 3
    assert [t["error"] for t in page["tries"]] == ["HTTP 500", "HTTP 500"]
    assert [t["attempt"] for t in page["tries"]] == [1, 2]


@pytest.mark.parametrize("error", [
    "redis is restarting",                              # the connection dropped
    "LOADING Redis is loading the dataset in memory",   # up, reading its data back
])
def test_a_finish_step_lost_with_redis_is_repeated_until_redis_answers(h, error):
    """Not the page's fault: the results are kept and the step repeated."""
    from txredisapi import ConnectionError as RedisConnectionError
    from txredisapi import ResponseError

    kind = ResponseError if error.startswith("LOADING") else RedisConnectionError
    h.start()
    [task] = h.tasks(1)
    finish = h.store.finish
    failures = [kind(error)] * 3

    def flaky(*args):
        if failures:
            return fail(failures.pop())
        return finish(*args)

    h.store.finish = flaky
    h.deliver(task)
    h.fetcher.answer(task.url)
    assert h.notices() == []
    h.clock.advance(0.2)
    h.clock.advance(0.4)
    h.clock.advance(0.8)
    assert h.notices() == [(h.job_id, 1)]
    job = h.store.job(h.job_id).result
    assert job["pages_crawled"] == "1" and job["pages_failed"] == "0"


def test_a_task_on_a_paced_host_that_waited_for_a_slot_reserves_its_start(h):
    h.start()
    busy = h.tasks(2, host="b.example")
    paced = h.tasks(2, host="a.example")
    h.store.redis_state.hset(keys.host("http://a.example"), "delay", 5)
    h.deliver(*busy, *paced)                  # b.example fills both slots
    assert h.fetcher.fetched == [t.url for t in busy]
    h.fetcher.answer(busy[0].url)
    assert h.fetcher.fetched[-1] == paced[0].url, "due: reserved and fetched"
    h.fetcher.answer(busy[1].url)
    assert len(h.store.called("reserve")) == 2
    assert h.fetcher.fetched[-1] == paced[0].url, "not due: it waits in Redis, not here"
    assert h.store.redis_state.zscore(
        keys.DELAYED, keys.lease_member(h.job_id, 0, paced[1].url)) == pytest.approx(T0 + 5)
    assert h.service._held == 1


def test_a_heartbeat_lapse_hands_back_what_was_queued(h):
    h.start()
    tasks = h.tasks(4)
    h.deliver(*tasks)                         # 2 running, 2 queued
    h.clock.advance(7)                        # frozen past 3 heartbeats
    assert set(h.released()) == set(tasks[2:])
    assert h.fetcher.in_flight() == 2


def test_a_heartbeat_loop_that_dies_is_fatal(h, tmp_path):
    h.start()
    h.config = dataclasses.replace(h.config, worker_heartbeat_file=str(tmp_path / "gone" / "x"))
    h.service._config = h.config
    h.clock.advance(2)
    assert h.fatal.exit_status == 1 and not h.clock.running


def test_the_robots_duty_fetches_robots_txt_then_hands_the_task_back(h):
    h.start()
    [task] = h.tasks(1, robots=True)
    h.deliver(task)
    assert h.fetcher.fetched == ["http://a.example/robots.txt"]
    h.fetcher.answer("http://a.example/robots.txt", body=b"User-agent: *\nDisallow: /0\n",
                     content_type="text/plain")
    assert h.released() == [] and h.store.called("finish") == []
    (again,) = h.lease(1)
    assert again.url == task.url and again.attempt == 1
    h.deliver(again)
    [(_, outcome, page, *_)] = h.store.called("finish")
    assert outcome == "skipped" and page["skipped"] == "robots.txt"
    assert h.fetcher.fetched == ["http://a.example/robots.txt"], "never fetched"


def test_a_crash_frees_the_slot(h):
    h.start()
    tasks = h.tasks(3)
    start = h.store.start
    crashed = []

    async def flaky(task, *args):
        if not crashed:
            crashed.append(task)
            raise ConnectionError("redis went away")
        return await start(task, *args)

    h.store.start = flaky
    h.deliver(*tasks)
    assert crashed == [tasks[0]]
    assert h.fetcher.fetched == [tasks[1].url, tasks[2].url]


# --- stopping ---------------------------------------------------------------------------


def test_stop_when_idle(h):
    h.start()
    d = h.service.stopService()
    assert result_of(d) is None
    assert h.heartbeats()[-2:] == [("w1", 6.0, 0), ("w1", 0, 0)]
    assert h.wire.factories[0].shut_down
    h.clock.advance(10)
    assert len(h.heartbeats()) == 3     # the loop stopped


def test_stop_hands_back_queued_tasks_and_waits_for_running_ones(h):
    h.start()
    tasks = h.tasks(5)
    h.deliver(*tasks)
    d = h.service.stopService()
    assert h.heartbeats()[-1] == ("w1", 6.0, 0)          # draining: no new tasks
    assert h.released() == tasks[2:]
    assert not d.called
    h.clock.advance(10)
    assert not d.called
    assert h.heartbeats()[-1] == ("w1", 6.0, 0)          # still announcing 0 slots
    h.fetcher.answer(tasks[0].url)
    assert not d.called
    h.fetcher.answer(tasks[1].url)
    assert d.called
    assert h.fetcher.fetched == [tasks[0].url, tasks[1].url]
    assert [job for job, _ in h.notices()] == [h.job_id], "sent before the socket closed"
    assert h.heartbeats()[-1] == ("w1", 0, 0)
    assert h.wire.factories[0].shut_down


def test_tasks_arriving_while_draining_are_handed_back(h):
    h.start()
    tasks = h.tasks(3)
    h.deliver(tasks[0])
    h.service.stopService()
    h.deliver(tasks[1], tasks[2])
    assert h.released() == tasks[1:]
    assert h.fetcher.fetched == [tasks[0].url]


def test_running_tasks_are_cancelled_and_handed_back_after_drain_seconds(h):
    h.start()
    tasks = h.tasks(2)
    h.deliver(*tasks)
    d = h.service.stopService()
    h.clock.advance(19.9)
    assert not d.called
    assert h.fetcher.cancelled == []
    h.clock.advance(0.1)
    assert sorted(h.fetcher.cancelled) == sorted(t.url for t in tasks)
    assert set(h.released()) == set(tasks)
    assert h.store.called("finish") == []
    assert d.called
    assert h.heartbeats()[-1] == ("w1", 0, 0)


def test_a_last_attempt_cancelled_by_the_drain_is_handed_back_not_failed(h):
    h.start()
    [task] = h.tasks(1)
    last = dataclasses.replace(task, attempt=3)
    h.store.redis_state.hset(keys.job(h.job_id, "attempts"), task.url, 2)   # started twice before
    h.deliver(last)
    h.service.stopService()
    h.clock.advance(20)
    assert h.store.called("finish") == []
    assert h.store.job(h.job_id).result["pages_failed"] == "0"
    assert h.released() == [last]


def test_drain_seconds_zero_cancels_at_once(monkeypatch, tmp_path):
    h = Harness(monkeypatch, tmp_path, drain_seconds=0.0)
    h.start()
    [task] = h.tasks(1)
    h.deliver(task)
    d = h.service.stopService()
    h.clock.advance(0)
    assert h.fetcher.cancelled == [task.url]
    assert d.called


def test_stop_succeeds_after_cancelling(h):
    h.start()
    [task] = h.tasks(1)
    h.deliver(task)
    d = h.service.stopService()
    h.clock.advance(20)
    assert result_of(d) is None
    assert h.fetcher.cancelled == [task.url]
    assert h.released() == [task]


def test_a_queued_task_of_a_job_evicted_from_the_settings_cache_is_still_crawled(
        monkeypatch, h):
    from worker.crawl import Crawler
    monkeypatch.setattr(Crawler, "_SETTINGS_CACHED", 4)   # 256 in production
    h.start()
    tasks = [h.tasks(1, host=f"j{i}.example")[0] for i in range(8)]
    h.deliver(*tasks)           # j0, j1 running; j2..j7 accepted and queued
    h.fetcher.answer(tasks[0].url)
    assert h.fetcher.fetched[-1] == tasks[2].url


def test_a_page_that_breaks_the_parser_fails_alone(h, monkeypatch):
    import worker.parse_child

    def explode(html, url):
        if "poison" in url:
            raise RecursionError("maximum recursion depth exceeded")
        return real_extract(html, url)

    real_extract = worker.parse_child.extract
    monkeypatch.setattr(worker.parse_child, "extract", explode)
    h.start()
    h.job_id = h.store.create(["http://a.example/poison", "http://a.example/ok"],
                              OPTIONS, False).result
    h.store.heartbeat("api-side", 100_000, 10_000)
    poison, *tasks = h.lease(2)
    tasks.insert(0, poison)
    h.deliver(poison, tasks[1])
    h.fetcher.answer(poison.url)
    h.fetcher.answer(tasks[1].url)
    finished = {args[0].url: (args[1], args[2]) for args in h.store.called("finish")}
    outcome, page = finished[poison.url]
    assert outcome == "failed" and page["status"] == "error"
    assert page["error"].startswith("parser failed: RecursionError")
    assert finished[tasks[1].url][0] == "crawled"
    assert h.service.crawled == 2


def test_a_bad_certificate_fails_at_once_without_retries(h):
    from OpenSSL import SSL
    from twisted.python.failure import Failure
    from twisted.web.client import ResponseNeverReceived

    h.start()
    [task] = h.tasks(1)
    h.deliver(task)
    pending = next(d for d in h.fetcher.pending[task.url] if not d.called)
    pending.errback(ResponseNeverReceived([Failure(SSL.Error([("SSL routines", "", "certificate verify failed")]))]))
    [(_, outcome, page, *_)] = h.store.called("finish")
    assert outcome == "failed" and "certificate verify failed" in page["error"]
    assert h.released() == []


def test_a_page_with_more_urls_than_the_cap_records_the_first_ones(monkeypatch, tmp_path):
    h = Harness(monkeypatch, tmp_path, max_urls_per_page=3)
    h.start()
    [task] = h.tasks(1)
    h.deliver(task)
    many = "".join(f'<img src="/i{i}.png"><a href="/p{i}">p</a>' for i in range(10))
    h.fetcher.answer(task.url, body=many.encode())
    [(_, outcome, page, images, links, *_)] = h.store.called("finish")
    assert [image[0] for image in images] == [f"http://a.example/i{i}.png" for i in range(3)]
    assert links == [f"http://a.example/p{i}" for i in range(3)]
    assert page["images"] == 10 and page["urls_capped"] == 3


def test_a_page_redis_refuses_to_record_is_settled_as_failed(h):
    from txredisapi import ResponseError

    h.start()
    [task] = h.tasks(1)
    finish = h.store.finish
    refused = []

    def picky(task, outcome, page, *rest):
        if not refused:
            refused.append(outcome)
            return fail(ResponseError("ERR Error running script: a bug"))
        return finish(task, outcome, page, *rest)

    h.store.finish = picky
    h.deliver(task)
    h.fetcher.answer(task.url)
    assert refused == ["crawled"]
    job = h.store.job(h.job_id).result
    assert job["status"] == "completed" and job["pages_failed"] == "1"
    [(_, outcome, page, images, *_)] = h.store.called("finish")[-1:]
    assert outcome == "failed" and "could not record the page" in page["error"] and images == []



def test_a_start_whose_reply_was_lost_hands_the_task_back(h):
    """Redis ran the start step, then the connection dropped: the lease is
    this worker's for LEASE_SECONDS unless the worker gives it back."""
    from twisted.internet.error import ConnectionLost

    h.start()
    [task] = h.tasks(1)
    start = h.store.start

    async def reply_lost(*args):
        await start(*args)
        raise ConnectionLost("Lost connection")

    h.store.start = reply_lost
    h.deliver(task)
    assert h.fetcher.fetched == []
    assert h.released() == [task]
    [again] = h.lease(1)
    assert again.url == task.url, "back on its queue at once, not after its lease"
