"""
The contract of job lifecycle events and webhook deliveries in Redis
(L{common.lifecycle.EventStore} and the scripts that emit events), run,
as test_store_contract.py is, against fakeredis and a real redis-server
(the C{store} fixture).
"""

import pytest

from common import keys
from common.lifecycle import EventStore
from common.store import JobStore
from tests.unit.conftest import T0, Harness, urls

CONSUMER = "api-1"


@pytest.fixture
def events(store):
    """An L{EventStore} on the store's Redis and clock, its group joined."""
    harness = Harness(store.kind, EventStore(store.store.redis, store.clock, job_ttl=0),
                      store.clock, store._run)
    harness.join()
    return harness


def crawl_all(store):
    """Crawl every task there is (no links), so that every job completes."""
    store.heartbeat("w1", 10_000, 100)
    while True:
        tasks = store.tasks(100)
        if not tasks:
            return
        for task in tasks:
            store.crawl(task, images=[[task.url + ".png", ["img"]]])


def pending_count(store):
    return store.command("execute_command", "XPENDING", keys.JOB_EVENTS, keys.EVENTS_GROUP)[0]


def test_completion_appends_one_event_with_the_final_state(store, events):
    job_id = store.new_job(urls(3))
    crawl_all(store)
    assert store.status(job_id) == "completed"
    [event] = events.read_new(CONSUMER, 10)
    assert (event.event, event.job, event.time) == ("job.completed", job_id, T0)
    assert event.state["status"] == "completed"
    assert (event.state["pages_crawled"], event.state["images_found"]) == ("3", "3")
    assert float(event.state["created_at"]) == T0
    assert events.read_new(CONSUMER, 10) == []


def test_cancel_appends_one_event_however_often_it_is_asked(store, events):
    job_id = store.new_job(urls(2))
    store.cancel(job_id)
    store.cancel(job_id)
    [event] = events.read_new(CONSUMER, 10)
    assert (event.event, event.job, event.state["status"]) == ("job.cancelled", job_id, "cancelled")


def test_a_job_that_expires_before_it_starts_fails(store, events):
    ttl_store = Harness(store.kind, JobStore(store.store.redis, store.clock, job_ttl=30),
                        store.clock, store._run)
    job_id = ttl_store.new_job(urls(1))
    store.advance(31)
    store.reap(3, 11)
    [event] = events.read_new(CONSUMER, 10)
    assert (event.event, event.job) == ("job.failed", job_id)
    assert event.state["cancel_reason"] == "expired before it started"


def test_progress_every_n_pages_only_when_asked(store, events):
    quiet = store.new_job(urls(4, "q.example"), callback_events=["completed"],
                          callback_every_pages=1)
    loud = store.new_job(urls(5), callback_url="http://hook.example/",
                         callback_events=["progress", "completed"], callback_every_pages=2)
    crawl_all(store)
    seen = [(e.job, e.event, e.state["pages_crawled"]) for e in events.read_new(CONSUMER, 50)]
    assert [s[1:] for s in seen if s[0] == quiet] == [("job.completed", "4")]
    assert [s[1:] for s in seen if s[0] == loud] == [
        ("job.progress", "2"), ("job.progress", "4"), ("job.completed", "5")]


def test_an_unacked_event_is_claimed_by_another_consumer(store, events):
    job_id = store.new_job(urls(1))
    store.cancel(job_id)
    [read] = events.read_new(CONSUMER, 10)
    assert events.claim_stale("api-2", 3600, "0-0", 10) == ([], "0-0")
    claimed, _ = events.claim_stale("api-2", 0, "0-0", 10)
    assert claimed == [read]
    events.ack(read.id)
    assert pending_count(store) == 0
    assert events.claim_stale("api-2", 0, "0-0", 10)[0] == []


def test_joining_twice_is_harmless(events):
    events.join()
    assert events.read_new(CONSUMER, 10) == []


def test_a_delivery_is_held_while_in_flight_and_due_again_after(store, events):
    job_id = store.new_job(urls(1))
    store.cancel(job_id)
    [event] = events.read_new(CONSUMER, 10)
    events.schedule(event.id)
    events.schedule(event.id)           # claimed again: still one delivery
    assert events.scheduled(event.id)
    assert events.take_due(40, 10) == [(event.id, 1)]
    assert events.take_due(40, 10) == []          # held by the attempt in flight
    store.advance(40)
    assert events.take_due(40, 10) == [(event.id, 2)]  # that attempt died: due again


def test_settle_records_the_attempt_then_retries_or_acks(store, events):
    job_id = store.new_job(urls(1))
    store.cancel(job_id)
    [event] = events.read_new(CONSUMER, 10)
    events.schedule(event.id)
    [(_, attempt)] = events.take_due(40, 10)
    events.settle(event.id, job_id, {"attempt": attempt, "status": 500, "outcome": "retry"},
                  due=T0 + 5)
    assert events.take_due(40, 10) == []
    store.advance(5)
    [(_, attempt)] = events.take_due(40, 10)
    events.settle(event.id, job_id, {"attempt": attempt, "status": 200, "outcome": "delivered"})
    assert events.ledger(job_id) == [{"attempt": 1, "status": 500, "outcome": "retry"},
                                     {"attempt": 2, "status": 200, "outcome": "delivered"}]
    assert not events.scheduled(event.id)
    assert pending_count(store) == 0
    store.advance(3600)
    assert events.take_due(40, 10) == []
    assert not store.exists(keys.WEBHOOK_TRIES)


def test_the_ledger_expires_with_the_job_results(store):
    events = Harness(store.kind, EventStore(store.store.redis, store.clock, job_ttl=60),
                     store.clock, store._run)
    job_id = store.new_job(urls(1))
    events.settle("1-0", job_id, {"outcome": "given_up"})
    ttl = store.command("ttl", keys.job(job_id, "callbacks"))
    assert 0 < ttl <= 60


def test_an_event_and_the_job_options_are_read_back(store, events):
    job_id = store.new_job(urls(1), callback_url="http://hook.example/")
    store.cancel(job_id)
    [event] = events.read_new(CONSUMER, 10)
    assert events.event(event.id) == event
    assert events.event("1-1") is None
    assert events.webhook(job_id)["callback_url"] == "http://hook.example/"
    assert events.webhook("0" * 32) is None
