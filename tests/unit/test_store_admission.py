"""
The store's contract for admission control (C{lua/admit.lua}, the live
jobs kept by C{create_job.lua} and C{drop_transient}, the expiry of jobs
that never start in C{reap.lua}), run on both backends by the C{store}
fixture of C{tests/unit/conftest.py}: fakeredis and a real redis-server.
"""

import pytest

from common import keys
from common.store import AdmissionLimits, AdmissionVerdict
from tests.unit.conftest import LEASE, OPTIONS, T0, urls

# 30 jobs a minute in bursts of 10 per client, 600 a minute in all, 20
# live jobs, 3,600 pages an hour (one a second, to keep the sums plain).
LIMITS = AdmissionLimits(client_rate=0.5, client_burst=10, total_rate=10.0, total_burst=60,
                         live_jobs=20, pages_rate=1.0, pages_burst=3600)
OK = AdmissionVerdict(admitted=True)


def admit_all(store, client, n, pages=1, limits=LIMITS):
    return [store.admit(client, pages, limits) for _ in range(n)]


def job_of(store, client, n_urls=1):
    """A job created under C{client}, as the API creates it after admission."""
    return store.create(urls(n_urls), OPTIONS, False, client)


def live(store, client):
    return set(store.command("smembers", keys.client(client, "jobs")))


# --- job creations: the buckets -------------------------------------------------------


def test_a_burst_is_admitted_then_the_rate_refuses_saying_how_long(store):
    assert admit_all(store, "addr:a", 10) == [OK] * 10
    verdict = store.admit("addr:a", 1, LIMITS)
    assert (verdict.admitted, verdict.limit) == (False, "client_rate")
    assert verdict.wait == pytest.approx(2.0)
    assert verdict.pages_left == 3590


def test_the_bucket_refills_at_its_rate_and_no_further_than_its_burst(store):
    admit_all(store, "addr:a", 10)
    store.advance(1.0)
    assert store.admit("addr:a", 1, LIMITS).wait == pytest.approx(1.0)
    store.advance(1.0)
    assert store.admit("addr:a", 1, LIMITS) == OK
    store.advance(3600)
    assert admit_all(store, "addr:a", 10) == [OK] * 10
    assert not store.admit("addr:a", 1, LIMITS).admitted


def test_a_refusal_takes_nothing(store):
    admit_all(store, "addr:a", 10)
    for _ in range(5):
        store.admit("addr:a", 1, LIMITS)
    store.advance(2.0)
    assert store.admit("addr:a", 1, LIMITS) == OK


def test_clients_have_buckets_of_their_own(store):
    admit_all(store, "addr:a", 10)
    assert store.admit("token:b", 1, LIMITS) == OK
    assert not store.admit("addr:a", 1, LIMITS).admitted


def test_the_total_bucket_holds_across_clients(store):
    limits = AdmissionLimits(client_rate=0.5, client_burst=10, total_rate=1.0, total_burst=15)
    assert admit_all(store, "addr:a", 10, limits=limits) == [OK] * 10
    assert admit_all(store, "addr:b", 5, limits=limits) == [OK] * 5
    verdict = store.admit("addr:c", 1, limits)
    assert (verdict.limit, verdict.pages_left) == ("total_rate", None)
    assert verdict.wait == pytest.approx(1.0)


def test_the_longest_wait_is_the_one_named(store):
    admit_all(store, "addr:a", 10, pages=300)
    verdict = store.admit("addr:a", 3000, LIMITS)
    assert verdict.limit == "pages"
    assert verdict.wait == pytest.approx(3000 - 600)


def test_limits_that_are_off_admit_everything_and_write_nothing(store):
    assert admit_all(store, "addr:a", 50, pages=10**6, limits=AdmissionLimits()) == [OK] * 50
    assert not store.exists(keys.client("addr:a"))
    assert not store.exists(keys.ADMISSION)


def test_a_client_hash_expires_when_its_buckets_would_be_full_again(store):
    store.admit("addr:a", 100, LIMITS)
    # the job bucket is full again in 2 s, the page bucket in 100 s
    assert 100 <= store.command("ttl", keys.client("addr:a")) <= 101
    assert 2 <= store.command("ttl", keys.ADMISSION) <= 3


# --- pages per hour ------------------------------------------------------------------


def test_a_job_takes_its_max_pages_from_the_budget(store):
    assert store.admit("addr:a", 3000, LIMITS) == OK
    verdict = store.admit("addr:a", 1000, LIMITS)
    assert (verdict.limit, verdict.pages_left) == ("pages", 600)
    assert verdict.wait == pytest.approx(400)
    assert store.admit("addr:a", 600, LIMITS) == OK


def test_the_page_budget_refills_within_the_hour(store):
    store.admit("addr:a", 3600, LIMITS)
    store.advance(1800)
    assert store.admit("addr:a", 1800, LIMITS) == OK
    assert store.admit("addr:b", 3600, LIMITS) == OK


# --- live jobs -----------------------------------------------------------------------


def test_create_records_the_client_and_its_live_job(store):
    job_id = job_of(store, "addr:a")
    assert store.job(job_id)["client"] == "addr:a"
    assert live(store, "addr:a") == {job_id}
    assert "client" not in store.job(store.new_job(urls(1)))


def test_a_client_at_its_live_cap_is_refused_without_a_wait(store):
    limits = AdmissionLimits(live_jobs=2)
    job_of(store, "addr:a")
    job_of(store, "addr:a")
    verdict = store.admit("addr:a", 1, limits)
    assert (verdict.admitted, verdict.limit, verdict.wait) == (False, "live_jobs", None)
    assert store.admit("addr:b", 1, limits) == OK


def test_a_cancelled_job_frees_its_slot(store):
    limits = AdmissionLimits(live_jobs=1)
    job_id = job_of(store, "addr:a")
    store.cancel(job_id)
    assert live(store, "addr:a") == set()
    assert store.admit("addr:a", 1, limits) == OK


def test_a_completed_job_frees_its_slot(store):
    limits = AdmissionLimits(live_jobs=1)
    job_id = job_of(store, "addr:a")
    store.heartbeat("w1", 10, 10)
    [task] = store.tasks()
    assert store.admit("addr:a", 1, limits).limit == "live_jobs"
    store.crawl(task)
    assert store.status(job_id) == "completed"
    assert store.admit("addr:a", 1, limits) == OK


# --- queued jobs expire ---------------------------------------------------------------


@pytest.fixture
def expiring(store):
    """The store with a time to live of 100 s for jobs."""
    store.store.job_ttl = 100
    return store


def test_a_job_still_queued_after_its_time_to_live_is_cancelled(expiring):
    job_id = job_of(expiring, "addr:a")
    expiring.advance(99)
    expiring.reap(3, 11)
    assert expiring.status(job_id) == "queued"
    expiring.advance(1)
    expiring.reap(3, 11)
    job = expiring.job(job_id)
    assert (job["status"], job["cancel_reason"]) == ("cancelled", "expired before it started")
    assert float(job["finished_at"]) == T0 + 100
    assert live(expiring, "addr:a") == set()
    assert not expiring.exists(keys.job(job_id, "frontier:http://a.example"))
    assert 0 < expiring.command("ttl", keys.job(job_id)) <= 100


def test_a_started_job_does_not_expire(expiring):
    job_id = job_of(expiring, "addr:a", n_urls=2)
    expiring.heartbeat("w1", 1000, 1)
    expiring.lease(LEASE, 1)
    expiring.advance(150)
    expiring.heartbeat("w1", 1000, 1)
    expiring.reap(3, 11)
    assert expiring.status(job_id) == "running"
    assert expiring.command("zcard", keys.START_BY) == 0


def test_an_ended_job_leaves_start_by_at_once(expiring):
    expiring.cancel(job_of(expiring, "addr:a"))
    assert expiring.command("zcard", keys.START_BY) == 0


def test_expiry_takes_a_few_jobs_a_round(expiring):
    jobs = [job_of(expiring, "addr:a") for _ in range(25)]
    expiring.advance(100)
    expiring.reap(3, 11)
    assert sum(expiring.status(j) == "cancelled" for j in jobs) == 20
    expiring.reap(3, 11)
    assert all(expiring.status(j) == "cancelled" for j in jobs)


def test_without_a_time_to_live_queued_jobs_stay(store):
    job_id = job_of(store, "addr:a")
    store.advance(10 * 365 * 86400)
    store.reap(3, 11)
    assert store.status(job_id) == "queued"
    assert store.command("zcard", keys.START_BY) == 0
