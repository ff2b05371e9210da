"""
Kill things mid-crawl; every job must still complete with exactly the
result of a fault-free run.

The site is a fan-out of slow pages, so that the crawl is mid-flight when
the fault hits; the expected sets are known from the site's shape, and
`test_fault_free_run` shows that a run with no fault yields them.
"""

import signal
import time

import pytest

from tests.site import FixtureSite, hang, page, slow
from tests.wait import wait_for

PAGES = 90
DELAY = 0.15
SETTINGS = dict(WORKER_CONCURRENCY=2, LEASE_SECONDS=4, FETCH_TIMEOUT=3)
pytestmark = pytest.mark.slow


def fan_out(pages=PAGES, delay=DELAY, extra=None):
    home = '<img src="/img/home.png">' + "".join(f'<a href="/p/{i}">{i}</a>' for i in range(pages))
    routes = {"/": page(home)}
    for i in range(pages):
        html = (f'<img src="/img/{i}-a.png"><img srcset="/img/{i}-b.png 2x" alt="p{i}">'
                f'<a href="/">home</a><a href="/p/{(i + 1) % pages}">next</a>')
        routes[f"/p/{i}"] = (200, {"Content-Type": "text/html"}, slow(delay, html))
    routes.update(extra or {})
    return routes


def expected(site, pages=PAGES):
    images = {site.url("/img/home.png")}
    images.update(site.url(f"/img/{i}-{k}.png") for i in range(pages) for k in "ab")
    return {site.url("/"), *(site.url(f"/p/{i}") for i in range(pages))}, images


def crawl_with_fault(stack, fault, routes=None):
    """Submit the fan-out, run C{fault} once 15 pages are done, return the results."""
    with FixtureSite(routes or fan_out()) as site:
        job_id = stack.client.submit([site.url("/")])
        wait_for(lambda: stack.client.job(job_id)["stats"]["pages_crawled"] >= 15, 60,
                 "the crawl to be under way")
        assert stack.client.job(job_id)["status"] == "running"
        fault()
        job = stack.client.wait_done(job_id, timeout=180)
        return site, job, stack.client.pages(job_id), stack.client.images(job_id)


def assert_exact(site, job, pages, images):
    want_pages, want_images = expected(site)
    assert job["status"] == "completed"
    assert set(pages) == want_pages
    assert set(images) == want_images
    stats = job["stats"]
    assert stats["pages_crawled"] == len(want_pages), stats
    assert stats["pages_failed"] == 0 and stats["pages_admitted"] == len(want_pages), stats
    assert stats["images_found"] == len(want_images), stats


def test_fault_free_run(make_stack):
    stack = make_stack(workers=3, **SETTINGS)
    assert_exact(*crawl_with_fault(stack, lambda: None))


def test_worker_killed_mid_job(make_stack):
    stack = make_stack(workers=3, **SETTINGS)
    result = crawl_with_fault(stack, lambda: stack.workers[0].kill())
    assert_exact(*result)


def test_api_killed_and_restarted_mid_job(make_stack):
    stack = make_stack(workers=2, **SETTINGS)

    def fault():
        stack.api.kill()
        stack.start_api()

    assert_exact(*crawl_with_fault(stack, fault))


def test_redis_restarted_mid_job(make_stack, redis_server):
    stack = make_stack(workers=2, **SETTINGS)
    assert_exact(*crawl_with_fault(stack, redis_server.restart))


def test_all_workers_killed_then_new_ones_started(make_stack):
    stack = make_stack(workers=2, **SETTINGS)

    def fault():
        for worker in stack.workers:
            worker.kill()
        stack.start_worker()
        stack.start_worker()

    assert_exact(*crawl_with_fault(stack, fault))


def test_stalled_worker_resumes_without_double_counting(make_stack):
    stack = make_stack(workers=2, **SETTINGS)
    stalled = stack.workers[0]

    def fault():
        stalled.signal(signal.SIGSTOP)
        job_id = stack.client.json("GET", "/jobs")[1]["jobs"][0]["id"]
        wait_for(lambda: stack.client.job(job_id)["stats"]["pages_retried"] >= 1, 60,
                 "the stalled worker's leases to run out and be requeued")
        stalled.signal(signal.SIGCONT)

    site, job, pages, images = crawl_with_fault(stack, fault)
    assert_exact(site, job, pages, images)
    assert job["stats"]["pages_retried"] >= 1


def test_sigterm_drains_a_worker_and_loses_nothing(make_stack):
    stack = make_stack(workers=2, **SETTINGS)
    leaving = stack.workers[0]
    exit_codes = []

    def fault():
        leaving.signal(signal.SIGTERM)
        exit_codes.append(leaving.proc.wait(20))

    assert_exact(*crawl_with_fault(stack, fault))
    assert exit_codes == [0]
    assert "stopped after" in leaving.output()


def test_poison_pages_fail_alone(make_stack):
    stack = make_stack(workers=2, WORKER_CONCURRENCY=2, LEASE_SECONDS=4, FETCH_TIMEOUT=1)
    nested = "<div>" * 200_000 + "<img src='/img/deep.png'>"
    poison = {
        "/": page('<img src="/img/home.png"><a href="/hang">h</a><a href="/nested">n</a>'
                  '<a href="/garbage">g</a><a href="/ok">ok</a>'),
        "/hang": (200, {"Content-Type": "text/html"}, hang),
        "/nested": page(nested),
        "/garbage": (200, {"Content-Type": "text/html"}, bytes(range(256)) * 400),
        "/ok": page('<img src="/img/ok.png">'),
    }
    with FixtureSite(poison) as site:
        job_id = stack.client.submit([site.url("/")])
        job = stack.client.wait_done(job_id, timeout=120)
        pages = stack.client.pages(job_id)
        images = stack.client.images(job_id)
        assert site.hits["/hang"] == 3, "a hanging page gets MAX_ATTEMPTS tries"
    assert job["status"] == "completed"
    assert pages[site.url("/hang")]["status"] == "error"
    assert "timed out" in pages[site.url("/hang")]["error"]
    assert pages[site.url("/hang")]["attempt"] == 3
    assert pages[site.url("/ok")]["status"] == 200
    assert {site.url("/img/home.png"), site.url("/img/ok.png")} <= set(images)
    assert job["stats"]["pages_retried"] >= 2
    assert all(w.alive for w in stack.workers), "no worker died of a poison page"


def test_small_job_is_not_stuck_behind_a_huge_one(make_stack, redis_server):
    stack = make_stack(workers=2, **SETTINGS)
    big = fan_out(pages=400, delay=0.05)
    small = {"/": page('<img src="/s.png"><a href="/1">1</a>'), "/1": page('<img src="/s1.png">')}
    with FixtureSite(big) as big_site, FixtureSite(small) as small_site:
        big_job = stack.client.submit([big_site.url("/")])
        wait_for(lambda: stack.client.job(big_job)["stats"]["pages_crawled"] >= 10, 60,
                 "the big job to be under way")
        leased = int(redis_server.command("ZCARD", "ic:leases"))
        assert leased <= 2 * 2 * 2, f"{leased} tasks leased: more than the workers can hold"
        small_job = stack.client.submit([small_site.url("/")])
        stack.client.wait_done(small_job, timeout=60)
        big_state = stack.client.job(big_job)
        assert big_state["status"] == "running", "the small job finished while the big one ran"
        assert big_state["stats"]["pages_crawled"] < 300
        assert set(stack.client.images(small_job)) == {small_site.url("/s.png"), small_site.url("/s1.png")}
        stack.client.json("DELETE", f"/jobs/{big_job}")


def test_two_hundred_jobs_at_once(make_stack):
    stack = make_stack(workers=2, WORKER_CONCURRENCY=8)
    routes = {}
    for i in range(200):
        routes[f"/j{i}/"] = page(f'<img src="/j{i}/a.png"><a href="/j{i}/b">b</a>')
        routes[f"/j{i}/b"] = page(f'<img src="/j{i}/b.png">')
    with FixtureSite(routes) as site:
        jobs = [stack.client.submit([site.url(f"/j{i}/")]) for i in range(200)]
        for i, job_id in enumerate(jobs):
            job = stack.client.wait_done(job_id, timeout=180)
            assert job["status"] == "completed"
            assert set(stack.client.images(job_id)) == {site.url(f"/j{i}/a.png"), site.url(f"/j{i}/b.png")}


def test_dead_workers_tasks_come_back_before_their_lease_runs_out(make_stack, redis_server):
    """A killed worker stops heartbeating; the reaper takes back its leases
    then, not LEASE_SECONDS (here 300 s) later."""
    stack = make_stack(workers=2, WORKER_CONCURRENCY=2, LEASE_SECONDS=300, FETCH_TIMEOUT=10)
    with FixtureSite(fan_out(pages=30, delay=0.5)) as site:
        job_id = stack.client.submit([site.url("/")])
        wait_for(lambda: "worker1" in redis_server.command("HVALS", "ic:lease-owner"), 60,
                 "the first worker to hold leases")
        killed_at = time.monotonic()
        stack.workers[0].kill()
        wait_for(lambda: stack.client.job(job_id)["stats"]["pages_retried"] >= 1, 60,
                 "the dead worker's tasks to be requeued")
        latency = time.monotonic() - killed_at
        job = stack.client.wait_done(job_id, timeout=120)
    print(f"redelivery latency after kill -9: {latency:.1f} s (HEARTBEAT_SECONDS=0.5)")
    assert job["stats"]["pages_crawled"] == 31
    assert latency < 60
