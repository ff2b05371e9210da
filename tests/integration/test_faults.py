"""
Kill things mid-crawl; every job must still complete with exactly the
result of a fault-free run, and soon: LEASE_SECONDS is 600 here and each
job must complete within AFTER_FAULT (60) seconds of its fault, so no test
can pass by waiting a lease out.  A dead or frozen worker's tasks (those it
was fetching, those in its buffers, those on the wire to it) come back
after its missed heartbeats.

The site is a fan-out of 300 pages of about 14 KB and 32 images each, so
that the workers are busy (tasks queue up in them) when the fault hits a
third of the way in; the expected sets are known from the site's shape.  Each
fault test first crawls the same site with no fault in the same stack, and
prints how many seconds the fault added (`pytest -s` shows them).
"""

import functools
import json
import random
import signal
import time

import pytest

from tests.site import FixtureSite, hang, page, slow
from tests.wait import wait_for

PAGES = 300
IMAGES = 30                 # per page, besides the two below
DELAY = 0.02
LEASE_SECONDS = 600
AFTER_FAULT = 60            # far below LEASE_SECONDS
# The default concurrency: a worker holds many tasks (accepted, buffered,
# on the wire) when it dies.
SETTINGS = dict(WORKER_CONCURRENCY=16, LEASE_SECONDS=LEASE_SECONDS, FETCH_TIMEOUT=3)
pytestmark = pytest.mark.slow


def _page(i, pages):
    """A page of about 14 KB with IMAGES + 2 images: parsing it takes the
    worker real time, as on the web, so tasks queue up in the workers."""
    figures = "".join(
        f'<figure class="photo" data-k="{k}"><img src="/img/{i}/{k}.jpg" width="320" height="200" '
        f'alt="photo {k} of page {i}"><figcaption>Photo {k}: the harbour at dusk, seen from the '
        f'old lighthouse, with the fishing boats coming in</figcaption></figure>\n'
        for k in range(IMAGES))
    prose = "".join(f'<p class="text">Paragraph {k} of page {i}, about nothing much; a crawler '
                    f'reads it all the same and moves on.</p>\n' for k in range(40))
    return (f'<!doctype html><html><head><title>Page {i}</title></head><body><nav><a href="/">home</a>'
            f'<a href="/p/{(i + 1) % pages}">next</a></nav><main>'
            f'<img src="/img/{i}-a.png"><img srcset="/img/{i}-b.png 2x" alt="p{i}">\n'
            f'{figures}{prose}</main></body></html>')


def fan_out(pages=PAGES, delay=DELAY, extra=None):
    home = '<img src="/img/home.png">' + "".join(f'<a href="/p/{i}">{i}</a>' for i in range(pages))
    routes = {"/": page(home)}
    for i in range(pages):
        routes[f"/p/{i}"] = (200, {"Content-Type": "text/html"}, slow(delay, _page(i, pages)))
    routes.update(extra or {})
    return routes


def expected(site, pages=PAGES):
    images = {site.url("/img/home.png")}
    images.update(site.url(f"/img/{i}-{k}.png") for i in range(pages) for k in "ab")
    images.update(site.url(f"/img/{i}/{k}.jpg") for i in range(pages) for k in range(IMAGES))
    return {site.url("/"), *(site.url(f"/p/{i}") for i in range(pages))}, images


def pool(make_stack, workers=3, **settings):
    stack = make_stack(workers=workers, **{**SETTINGS, **settings})
    wait_for(lambda: live_workers(stack) == workers, 30, f"{workers} live workers")
    return stack


def live_workers(stack):
    return stack.client.json("GET", "/readyz")[1].get("workers")


def last_worker(stack, job_id):
    """The worker that recorded the job's latest page: one with work in hand."""
    name = json.loads(stack.client.lines(f"/jobs/{job_id}/pages?format=ndjson")[-1])["worker"]
    return next(w for w in stack.workers if w.name == name)


def crawl_with_fault(stack, fault=None):
    """
    Crawl the fan-out; once a third of the pages are done run C{fault(job_id)}.

    @return: C{(site, job, page lines, images, seconds from the fault to
        the job's completion)}.
    """
    with FixtureSite(fan_out()) as site:
        job_id = stack.client.submit([site.url("/")])
        wait_for(lambda: stack.client.job(job_id)["stats"]["pages_crawled"] >= PAGES // 3, 60,
                 "the crawl to be under way")
        assert stack.client.job(job_id)["status"] == "running"
        began = time.monotonic()
        if fault is not None:
            fault(job_id)
        job = stack.client.wait_done(job_id, timeout=AFTER_FAULT)
        after = time.monotonic() - began
        lines = [json.loads(line) for line in stack.client.lines(f"/jobs/{job_id}/pages?format=ndjson")]
        return site, job, lines, stack.client.images(job_id), after


def assert_exact(site, job, lines, images, after=None):
    """Exactly the fault-free result, each page recorded and counted once."""
    want_pages, want_images = expected(site)
    assert job["status"] == "completed", json.dumps(job)
    urls = [p["url"] for p in lines]
    assert len(urls) == len(set(urls)), "a page was recorded twice"
    assert set(urls) == want_pages
    failed = [p for p in lines if p["status"] != 200]
    assert not failed, f"pages not crawled: {failed[:5]}"
    assert set(images) == want_images
    stats = job["stats"]
    assert stats["pages_crawled"] == len(want_pages), stats
    assert stats["pages_admitted"] == len(want_pages), stats
    assert stats["pages_failed"] == 0 and stats["pages_skipped"] == 0, stats
    assert stats["images_found"] == len(want_images), stats
    assert stats["pages_pending"] == 0, stats


def check_fault(stack, name, fault):
    """A fault-free crawl, then the same with C{fault}: both exact."""
    baseline = crawl_with_fault(stack)
    assert_exact(*baseline)
    faulty = crawl_with_fault(stack, fault)
    assert_exact(*faulty)
    print(f"\n{name}: done {faulty[-1]:.1f} s after the fault, {faulty[-1] - baseline[-1]:+.1f} s "
          f"over the fault-free run ({baseline[-1]:.1f} s from the same point); "
          f"pages_retried {faulty[1]['stats']['pages_retried']}")
    return faulty


def test_worker_killed_mid_job(make_stack):
    stack = pool(make_stack)
    check_fault(stack, "kill -9 of a worker", lambda job_id: last_worker(stack, job_id).kill())


def test_api_killed_and_restarted_mid_job(make_stack):
    stack = pool(make_stack)

    def fault(job_id):
        stack.api.kill()
        stack.start_api()

    check_fault(stack, "kill -9 of the API, started again", fault)


def test_redis_restarted_mid_job(make_stack, redis_server):
    stack = pool(make_stack)
    check_fault(stack, "Redis restarted", lambda job_id: redis_server.restart())
    assert all(w.alive for w in stack.workers) and stack.api.alive


def test_stalled_worker_resumes_without_double_counting(make_stack):
    """SIGSTOP for longer than 3 heartbeats (the pool counts it gone), then SIGCONT."""
    stack = pool(make_stack)
    stalled = []

    def fault(job_id):
        worker = last_worker(stack, job_id)
        stalled.append(worker)
        worker.signal(signal.SIGSTOP)
        try:
            wait_for(lambda: live_workers(stack) == 2, 30, "the stopped worker to miss 3 heartbeats")
        finally:
            worker.signal(signal.SIGCONT)

    check_fault(stack, "SIGSTOP of a worker past 3 heartbeats, then SIGCONT", fault)
    wait_for(lambda: live_workers(stack) == 3, 30, "the resumed worker to rejoin the pool")
    assert stalled[0].alive


def test_frozen_worker_killed(make_stack):
    """SIGSTOP until the pool counts the worker gone, then kill -9: what
    was pushed to it meanwhile was never accepted, and comes back too."""
    stack = pool(make_stack)

    def fault(job_id):
        worker = last_worker(stack, job_id)
        worker.signal(signal.SIGSTOP)
        wait_for(lambda: live_workers(stack) == 2, 30, "the stopped worker to miss 3 heartbeats")
        worker.kill()

    check_fault(stack, "SIGSTOP of a worker past 3 heartbeats, then kill -9", fault)


def test_all_workers_killed_then_new_ones_started(make_stack):
    stack = pool(make_stack)

    def fault(job_id):
        for worker in list(stack.workers):
            worker.kill()
        for _ in range(3):
            stack.start_worker()

    check_fault(stack, "all workers killed, new ones started", fault)


def test_sigterm_drains_a_worker_and_loses_nothing(make_stack):
    stack = pool(make_stack)
    exit_codes = []

    def fault(job_id):
        leaving = last_worker(stack, job_id)
        leaving.signal(signal.SIGTERM)
        exit_codes.append((leaving, leaving.proc.wait(20)))

    check_fault(stack, "SIGTERM of a worker (drain)", fault)
    (leaving, code), = exit_codes
    assert code == 0
    assert "stopped after" in leaving.output()


_WORDS = ("harbour lantern orchard meadow copper violet granite willow ember cedar summit canyon "
          "glacier prairie thistle falcon marble pebble saffron tundra").split()


@functools.lru_cache(maxsize=None)
def catalogue(n, pages, size=int(4.7 * 1024 * 1024)):
    """
    A 4.7 MiB page as a shop's catalogue is: thousands of product cards,
    each with attributes, an image, links to the site's pages, a small
    table and tags.  Returns C{(html bytes, image paths)}.
    """
    rng = random.Random(n)
    nav = "".join(f'<a class="nav-link" href="/p/{i}">Section {i}</a>' for i in range(20))
    parts = [f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Catalogue {n}</title>'
             f'<meta property="og:image" content="/img/cat{n}/cover.jpg">'
             f'<link rel="stylesheet" href="/static/site.css"></head><body class="catalogue">'
             f'<header><nav class="top">{nav}</nav></header><main id="items">']
    images, length, k = {f"/img/cat{n}/cover.jpg"}, len(parts[0]), 0
    while length < size - 100:
        words = " ".join(rng.choice(_WORDS) for _ in range(12))
        a, b = rng.randrange(pages), rng.randrange(pages)
        card = (f'<article class="card item-{k % 7}" id="item-{k}" data-sku="SKU-{n}-{k:06d}" '
                f'data-price="{rng.randrange(100, 99999) / 100}"><a class="thumb" href="/p/{a}" '
                f'title="Item {k}"><img src="/img/cat{n}/{k}.jpg" width="320" height="240" loading="lazy" '
                f'alt="{words[:40]}"></a><div class="body"><h3 class="title"><a href="/p/{b}">Item {k} '
                f'of catalogue {n}</a></h3><p class="desc">{words}</p><table class="specs"><tr>'
                f'<th scope="row">Weight</th><td>{rng.randrange(1, 900)} g</td></tr><tr><th scope="row">'
                f'Colour</th><td><span class="swatch" style="color: #{rng.randrange(0xffffff):06x}">'
                f'{rng.choice(_WORDS)}</span></td></tr></table><ul class="tags"><li><a rel="tag" '
                f'href="/p/{(a + 1) % pages}">{rng.choice(_WORDS)}</a></li><li><a rel="tag" '
                f'href="/p/{(b + 7) % pages}">{rng.choice(_WORDS)}</a></li></ul></div></article>\n')
        parts.append(card)
        images.add(f"/img/cat{n}/{k}.jpg")
        length, k = length + len(card), k + 1
    parts.append("</main><footer><p>end of the catalogue</p></footer></body></html>")
    return "".join(parts).encode(), frozenset(images)


def test_huge_pages_do_not_stop_the_heartbeats(make_stack):
    """Four 4.7 MiB pages among 300: parsing them never stops a worker's
    heartbeat, so no task is ever taken back (pages_retried == 0)."""
    stack = pool(make_stack, HEARTBEAT_SECONDS=0.5, WORKER_CONCURRENCY=4, FETCH_TIMEOUT=30, PARSE_TIMEOUT=60)
    normal, huge = 300, 4
    links = [f"/p/{i}" for i in range(normal)]
    for h in range(huge):
        links.insert(h * normal // huge + 10, f"/catalogue/{h}")
    routes = {"/": page("".join(f'<a href="{p}">{p}</a>' for p in links) + '<img src="/img/home.png">')}
    want_images = {"/img/home.png"}
    for i in range(normal):
        routes[f"/p/{i}"] = page(f'<img src="/img/{i}.png" alt="{i}"><a href="/">home</a>'
                                 f'<a href="/p/{(i + 1) % normal}">next</a>')
        want_images.add(f"/img/{i}.png")
    for h in range(huge):
        body, images = catalogue(h, normal)
        assert 4.5 * 1024 * 1024 < len(body) < 5 * 1024 * 1024
        routes[f"/catalogue/{h}"] = page(body)
        want_images |= images
    with FixtureSite(routes) as site:
        job, pages, images = stack.client.crawl([site.url("/")], timeout=120)
    assert job["status"] == "completed"
    assert set(pages) == {site.url("/"), *(site.url(p) for p in links)}
    bad = [(u, p["status"], p.get("error"), p.get("truncated")) for u, p in pages.items()
           if p["status"] != 200 or p.get("truncated")]
    assert not bad, bad
    assert set(images) == {site.url(p) for p in want_images}
    stats = job["stats"]
    assert stats["pages_crawled"] == len(pages) and stats["images_found"] == len(want_images), stats
    assert stats["pages_retried"] == 0, f"tasks were taken back from a worker that missed heartbeats: {stats}"


def test_a_page_that_parses_too_long_fails_alone(make_stack):
    """PARSE_TIMEOUT: a page whose parse takes longer fails with that
    reason; the worker and the other pages go on."""
    stack = pool(make_stack, PARSE_TIMEOUT=0.3, FETCH_TIMEOUT=30)
    body, _ = catalogue(0, 10)
    routes = {"/": page('<a href="/catalogue">c</a>' + "".join(f'<a href="/p/{i}">{i}</a>' for i in range(10))),
              "/catalogue": page(body)}
    routes.update((f"/p/{i}", page(f'<img src="/img/{i}.png">')) for i in range(10))
    with FixtureSite(routes) as site:
        job, pages, images = stack.client.crawl([site.url("/")], timeout=AFTER_FAULT)
    assert job["status"] == "completed"
    error = str(pages[site.url("/catalogue")].get("error")).lower()
    assert "pars" in error and any(w in error for w in ("time", "took", "longer")), \
        f"want a reason saying the parse took too long: {json.dumps(pages[site.url('/catalogue')])}"
    assert all(pages[site.url(f"/p/{i}")]["status"] == 200 for i in range(10))
    assert set(images) == {site.url(f"/img/{i}.png") for i in range(10)}
    assert all(w.alive for w in stack.workers)


def test_poison_pages_fail_alone(make_stack):
    stack = pool(make_stack, workers=2, WORKER_CONCURRENCY=2, FETCH_TIMEOUT=1, RETRY_BASE_SECONDS=0.2)
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
        job, pages, images = stack.client.crawl([site.url("/")], timeout=AFTER_FAULT)
        assert site.hits["/hang"] == 3, "a hanging page gets MAX_ATTEMPTS tries"
    assert job["status"] == "completed"
    assert pages[site.url("/hang")]["status"] == "error"
    assert "timed out" in pages[site.url("/hang")]["error"]
    assert pages[site.url("/hang")]["attempt"] == 3
    assert pages[site.url("/ok")]["status"] == 200
    assert {site.url("/img/home.png"), site.url("/img/ok.png")} <= set(images)
    assert job["stats"]["pages_retried"] >= 2
    assert all(w.alive for w in stack.workers), "no worker died of a poison page"


def test_small_job_is_not_stuck_behind_a_huge_one(make_stack):
    stack = pool(make_stack, workers=2, WORKER_CONCURRENCY=2)
    big = fan_out(pages=400, delay=0.05)
    small = {"/": page('<img src="/s.png"><a href="/1">1</a>'), "/1": page('<img src="/s1.png">')}
    with FixtureSite(big) as big_site, FixtureSite(small) as small_site:
        big_job = stack.client.submit([big_site.url("/")])
        wait_for(lambda: stack.client.job(big_job)["stats"]["pages_crawled"] >= 10, 60,
                 "the big job to be under way")
        leased = stack.client.json("GET", "/readyz")[1]["leased"]
        assert leased <= 2 * 2 * 2, f"{leased} tasks leased: more than the workers can hold"
        small_job = stack.client.submit([small_site.url("/")])
        stack.client.wait_done(small_job, timeout=60)
        big_state = stack.client.job(big_job)
        assert big_state["status"] == "running", "the small job finished while the big one ran"
        assert big_state["stats"]["pages_crawled"] < 300
        assert set(stack.client.images(small_job)) == {small_site.url("/s.png"), small_site.url("/s1.png")}
        stack.client.json("DELETE", f"/jobs/{big_job}")


def test_two_hundred_jobs_at_once(make_stack):
    stack = pool(make_stack, workers=2, WORKER_CONCURRENCY=8)
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
