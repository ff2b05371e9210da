"""
api.dispatch.Dispatcher driven with a MemoryReactorClock and a FakeStore
(the real Lua over fakeredis); the ZeroMQ sockets are in-memory stand-ins
(tests.fakes.FakeWire), and a fatal error goes to the real
common.process.Fatal, which stops the (memory) reactor.
"""

import dataclasses

import pytest
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.testing import MemoryReactorClock

from api.dispatch import BATCH, Dispatcher, max_pushes
from api.metrics import Metrics
from common.config import from_env
from common.messages import decode_task, encode_notice
from common.process import Fatal
from tests.fakes import FakeStore, FakeWire
from txredisapi import ConnectionError as RedisConnectionError
from txredisapi import ResponseError

T0 = 1_700_000_000.0
# Many pages on one host, no robots.txt: these tests are about the wire.
# Host limits have their own tests at the end and in the store's contract.
OPTIONS = {"max_depth": 1, "scope": "host", "max_pages": 100_000,
           "host_concurrency": 100_000, "host_delay": 0.0}
ACCEPT = 3 * from_env({}).heartbeat_seconds


class Harness:
    def __init__(self, monkeypatch, **settings):
        self.clock = MemoryReactorClock()
        self.clock.advance(T0)
        self.clock.running = True
        self.config = dataclasses.replace(
            from_env({}), reap_interval=1.0, lease_seconds=60.0, max_attempts=3,
            zmq_tasks_bind="tcp://127.0.0.1:9050", zmq_links_bind="tcp://127.0.0.1:9051",
            **settings)
        self.store = FakeStore(self.clock)
        self.metrics = Metrics()
        self.wire = FakeWire().install(monkeypatch)
        self.fatal = Fatal(self.clock)
        self.dispatcher = Dispatcher(self.clock, self.config, self.store, self.metrics, self.fatal)

    def start(self):
        self.dispatcher.startService()
        return self

    @property
    def tasks_socket(self):
        return self.wire.pushes[0]

    @property
    def notices_socket(self):
        return self.wire.pulls[0]

    def pushed(self):
        return [decode_task(raw) for raw in self.tasks_socket.sent]

    def job(self, count, host="a.example", **options):
        d = self.store.create([f"http://{host}/{i}" for i in range(count)],
                              {**OPTIONS, **options}, obey_robots=False)
        return d.result

    def workers(self, slots, ttl=1000):
        self.store.heartbeat("w1", ttl, slots)

    def job_state(self, job_id):
        """The job's hash, as the store reads it."""
        return self.store.job(job_id).result

    def metric(self, name):
        return self.metrics.registry.get_sample_value(name) or 0


@pytest.fixture
def h(monkeypatch):
    return Harness(monkeypatch)


def test_start_binds_both_sockets(h):
    h.start()
    assert h.dispatcher.running
    [push], [pull] = h.wire.pushes, h.wire.pulls
    assert (push.how, push.address, push.hwm) == ("bind", "tcp://127.0.0.1:9050", 10 * BATCH)
    assert (pull.how, pull.address) == ("bind", "tcp://127.0.0.1:9051")
    assert h.wire.factories[0].reactor is h.clock


def test_first_round_runs_at_start(h):
    job_id = h.job(3)
    h.workers(10)
    h.start()
    assert h.store.called("reap") == [(3, max_pushes(3), 500)]
    assert [(t.job, t.url, t.depth, t.attempt) for t in h.pushed()] == [
        (job_id, f"http://a.example/{i}", 0, 1) for i in range(3)]
    assert len({t.lease for t in h.pushed()}) == 3, "each push has its own lease token"
    assert h.metric("imagecrawler_tasks_pushed_total") == 3
    assert h.metric("imagecrawler_workers_live") == 1


def test_wake_leases_and_pushes(h):
    h.workers(10)
    h.start()
    assert h.pushed() == []
    job_id = h.job(2)
    h.dispatcher.wake()
    assert [t.url for t in h.pushed()] == ["http://a.example/0", "http://a.example/1"]
    assert all(t.job == job_id for t in h.pushed())
    assert h.store.called("lease")[-1] == (ACCEPT, BATCH)


def test_wake_pushes_no_more_than_capacity(h):
    h.workers(4)
    h.start()
    h.job(10)
    h.dispatcher.wake()
    assert len(h.pushed()) == 4
    h.dispatcher.wake()
    assert len(h.pushed()) == 4


def test_full_batches_are_leased_until_the_frontier_is_empty(h):
    h.workers(1000)
    h.job(2 * BATCH + 5)
    h.start()
    assert len(h.pushed()) == 2 * BATCH + 5
    assert [want for _, want in h.store.called("lease")] == [BATCH, BATCH, BATCH]


def test_nothing_is_leased_while_the_socket_is_full(h):
    h.workers(10)
    h.job(3)
    h.start()
    h.tasks_socket.room = 0
    h.job(3)
    calls = len(h.store.called("lease"))
    h.dispatcher.wake()
    assert len(h.store.called("lease")) == calls


def test_tasks_the_socket_would_not_take_are_handed_straight_back(h):
    h.workers(10)
    h.start()
    job_id = h.job(5)
    h.tasks_socket.room = 2
    h.dispatcher.wake()
    assert [t.url for t in h.pushed()] == ["http://a.example/0", "http://a.example/1"]
    released = h.store.called("release")
    assert [(t.url, attempted) for t, attempted in released] == [
        (f"http://a.example/{i}", False) for i in (2, 3, 4)]
    # back on the queue at once, at no cost: the next wake pushes them
    h.tasks_socket.room = None
    h.dispatcher.wake()
    assert h.metric("imagecrawler_tasks_requeued_total") == 0
    assert sorted(t.url for t in h.pushed()[-3:]) == [f"http://a.example/{i}" for i in (2, 3, 4)]
    assert all(t.job == job_id and t.attempt == 1 for t in h.pushed())


def test_pushed_metric_counts_only_tasks_sent(h):
    h.workers(10)
    h.start()
    h.job(5)
    h.tasks_socket.room = 2
    h.dispatcher.wake()
    assert len(h.tasks_socket.sent) == 2
    assert h.metric("imagecrawler_tasks_pushed_total") == 2


def test_wakes_while_busy_are_coalesced(h):
    h.workers(1000)
    h.start()
    gates = []
    lease = h.store.lease

    async def slow_lease(accept_seconds, want):
        gate = Deferred()
        gates.append(gate)
        await gate
        return await lease(accept_seconds, want)

    h.store.lease = slow_lease
    h.job(3)
    h.dispatcher.wake()
    assert len(gates) == 1
    for _ in range(5):
        h.dispatcher.wake()
    assert len(gates) == 1                   # one lease in flight at a time
    gates[0].callback(None)
    assert len(h.pushed()) == 3
    assert len(gates) == 2                   # the five wakes made one more pass
    h.job(2)
    gates[1].callback(None)
    assert len(h.pushed()) == 5
    assert len(gates) == 2                   # and no more


def test_a_notice_wakes_the_dispatcher(h):
    h.workers(10)
    h.start()
    job_id = h.job(2)
    h.notices_socket.deliver(encode_notice(job_id, 2))
    assert len(h.pushed()) == 2
    assert h.metric("imagecrawler_pages_finished_total") == 1


@pytest.mark.parametrize("raw", [b"junk", b"{}", encode_notice("nope", 1), b'{"job": 1}'])
def test_a_bad_notice_is_ignored(h, raw):
    h.workers(10)
    h.start()
    h.job(2)
    h.notices_socket.deliver(raw)
    assert h.pushed() == []
    assert h.metric("imagecrawler_pages_finished_total") == 0


def test_periodic_round_reaps_and_wakes(h):
    h.workers(1000)
    job_id = h.job(2)
    h.start()
    assert len(h.pushed()) == 2
    assert len(h.store.called("reap")) == 1
    h.clock.advance(1)
    assert len(h.store.called("reap")) == 2
    assert len(h.pushed()) == 2                        # leases still good
    h.clock.advance(ACCEPT)                            # nobody took them on
    assert h.metric("imagecrawler_tasks_requeued_total") == 2
    assert [t.attempt for t in h.pushed()[2:]] == [1, 1]
    assert {t.url for t in h.pushed()[2:]} == {"http://a.example/0", "http://a.example/1"}
    assert h.job_state(job_id)["pages_retried"] == "2"


def test_periodic_round_updates_the_gauges(h):
    h.workers(3)
    h.job(5)
    h.start()
    assert h.metric("imagecrawler_tasks_leased") == 0  # measured before this round's pushes
    h.clock.advance(1)
    assert h.metric("imagecrawler_tasks_leased") == 3
    assert h.metric("imagecrawler_workers_live") == 1


def test_tasks_pushed_too_often_are_given_up(h):
    h.workers(1000)
    job_id = h.job(1)
    h.start()
    for _ in range(max_pushes(3) + 1):
        h.clock.advance(60)
    assert h.metric("imagecrawler_tasks_given_up_total") == 1
    assert len(h.pushed()) == max_pushes(3)
    assert h.job_state(job_id)["status"] == "completed"
    assert h.job_state(job_id)["pages_failed"] == "1"


@pytest.mark.parametrize("error", [RedisConnectionError("redis went away"), KeyError("a bug")])
def test_a_failed_dispatch_is_retried_next_round(h, error):
    """Redis being away, or a bug: logged, and the next round tries again;
    a dispatch is not a loop, so neither is fatal."""
    h.workers(10)
    h.start()
    h.job(2)
    lease = h.store.lease
    calls = []

    async def broken(accept_seconds, want):
        calls.append(want)
        if len(calls) == 1:
            raise error
        return await lease(accept_seconds, want)

    h.store.lease = broken
    h.dispatcher.wake()
    assert h.pushed() == []
    h.clock.advance(1)
    assert len(h.pushed()) == 2
    assert h.fatal.exit_status == 0


@pytest.mark.parametrize("error", [
    RedisConnectionError("redis went away"),
    ResponseError("LOADING Redis is loading the dataset in memory"),
])
def test_a_failed_round_does_not_stop_the_rounds(h, error):
    """Redis away, or up and still reading its data back: not fatal."""
    h.workers(10)
    h.start()
    reap = h.store.reap
    failures = [error]

    async def flaky(*args):
        if failures:
            raise failures.pop()
        return await reap(*args)

    h.store.reap = flaky
    h.clock.advance(1)
    h.job(2)
    h.clock.advance(1)
    assert len(h.pushed()) == 2
    assert h.fatal.exit_status == 0


def test_stop_stops_the_rounds_and_the_sockets(h):
    h.workers(10)
    h.start()
    h.dispatcher.stopService()
    assert not h.dispatcher.running
    assert h.wire.factories[0].shut_down
    reaps = len(h.store.called("reap"))
    h.job(2)
    h.dispatcher.wake()
    h.clock.advance(10)
    assert len(h.store.called("reap")) == reaps
    assert h.pushed() == []


def test_wake_before_start_does_nothing(h):
    h.workers(10)
    h.job(2)
    h.dispatcher.wake()
    assert h.store.called("lease") == []


def test_max_pushes():
    assert max_pushes(1) == 5
    assert max_pushes(3) == 11


def test_a_round_that_dies_of_a_bug_is_fatal(h):
    h.workers(10)
    h.start()

    async def buggy(*args):
        raise KeyError("a bug")

    h.store.reap = buggy
    h.clock.advance(1)
    assert h.fatal.exit_status == 1 and not h.clock.running
    assert not h.dispatcher._round.running


def test_a_paced_host_is_pushed_when_it_comes_due_not_at_the_next_round(h):
    h.workers(10)
    h.start()
    h.job(3, host_delay=0.25)
    h.dispatcher.wake()
    assert len(h.pushed()) == 1
    h.clock.advance(0.2)
    assert len(h.pushed()) == 1
    h.clock.advance(0.05)
    assert len(h.pushed()) == 2, "the dispatcher woke when the host came due"
    h.clock.advance(0.25)
    assert len(h.pushed()) == 3


def test_a_host_at_its_limit_waits_while_another_host_is_served(h):
    h.workers(10)
    h.start()
    h.job(5, host="slow.example", host_concurrency=1)
    h.job(3, host="fast.example", host_concurrency=1000)
    h.dispatcher.wake()
    hosts = [t.url.split("/")[2] for t in h.pushed()]
    assert hosts.count("slow.example") == 1 and hosts.count("fast.example") == 3


def test_a_retry_comes_back_when_due(h):
    h.workers(10)
    h.start()
    h.job(1)
    h.dispatcher.wake()
    (task,) = h.pushed()
    started = []
    ensureDeferred(h.store.start(task, 60, False, "w1", True)).addCallback(started.append)
    assert started[0].go
    h.store.retry(task, T0 + 0.5, None, {"attempt": 1, "error": "HTTP 503"})
    h.notices_socket.deliver(encode_notice(task.job, 0))
    assert len(h.pushed()) == 1
    h.clock.advance(0.5)
    assert [t.url for t in h.pushed()] == [task.url] * 2
    assert h.pushed()[1].attempt == 2
