"""
One polite crawler made of many workers: per-host limits, robots.txt and
retries hold across the whole pool (3 workers), as the site sees them.

Every assertion is on what the fixture server recorded (when each request
arrived, how many were in flight on its host) and on the job's page
records; time is only ever a lower bound (minus TOLERANCE for clock and
thread scheduling), except job timeouts far below LEASE_SECONDS, so a
loaded machine can make a test slower but not make it fail.
"""

import json
import time
from email.utils import formatdate

import pytest

from tests.site import FixtureSite, page, slow
from tests.wait import wait_for

TOLERANCE = 0.05            # a gap measured by the server may lose this much to scheduling
DEFAULT_HOST_CONCURRENCY = 4
MAX_ATTEMPTS = 3
JOB_TIMEOUT = 60            # far below LEASE_SECONDS: nothing may wait a lease out
SETTINGS = dict(LEASE_SECONDS=600, RETRY_BASE_SECONDS=0.2)
TEXT = "text/plain"


def pool(make_stack, workers=3, **settings):
    """The stack with C{workers} workers, all of them live before the test starts."""
    stack = make_stack(workers=workers, **{**SETTINGS, **settings})
    wait_for(lambda: stack.client.json("GET", "/readyz")[1].get("workers") == workers, 30,
             f"{workers} live workers")
    return stack


def fan_out(paths, delay=0.0, home="/"):
    """C{home} linking to C{paths}; each page has one image, and takes C{delay} s."""
    links = "".join(f'<a href="{p}">{p}</a>' for p in paths)
    routes = {home: page(f'<img src="/img/home.png">{links}')}
    for p in paths:
        html = f'<img src="/img{p}.png"><a href="{home}">home</a>'
        routes[p] = (200, {"Content-Type": "text/html"}, slow(delay, html) if delay else html)
    return routes


def robots(text, status=200):
    return page(text, status=status, content_type=TEXT)


def crawl(stack, urls, timeout=JOB_TIMEOUT, **options):
    job_id = stack.client.submit(urls, **options)
    return stack.client.wait_done(job_id, timeout=timeout), stack.client.pages(job_id)


def assert_all_ok(job, pages, site, paths):
    assert job["status"] == "completed", json.dumps(job)
    assert set(pages) == {site.url(p) for p in paths}
    failed = {url: (p["status"], p.get("error"), p.get("skipped")) for url, p in pages.items()
              if p["status"] != 200}
    assert not failed, f"pages not crawled: {failed}"


def assert_skipped_by_robots(record):
    assert (record["status"], record.get("skipped")) == ("skipped", "robots.txt"), \
        f"want skipped for robots.txt: {json.dumps(record)}"


def assert_spaced(site, requests, delay):
    """Every start at least C{delay} after the one before, on this host."""
    gaps = site.gaps(requests)
    short = [(round(gap, 3), a.path, b.path) for gap, a, b in gaps if gap < delay - TOLERANCE]
    assert not short, f"starts closer than {delay} s on {site.base}: {short}"
    if gaps:
        print(f"delay {delay} s: {len(gaps)} gaps, shortest {min(g for g, _, _ in gaps):.3f} s")


def in_flight_at_peak(site):
    return [(r.path, r.in_flight) for r in site.seen() if r.in_flight == site.max_in_flight()][:10]


def served(site, path):
    """The (one) request for C{path}, once its answer was sent."""
    requests = site.seen(path)
    return requests[0] if requests and requests[0].end is not None else None


# --- per-host limits across the pool -----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("limit", [2, None], ids=["host_concurrency=2", "default"])
def test_host_concurrency_holds_across_the_pool(make_stack, limit):
    stack = pool(make_stack)
    want = limit or DEFAULT_HOST_CONCURRENCY
    paths = [f"/p/{i}" for i in range(60)]
    with FixtureSite(fan_out(paths, delay=0.3), host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")], **({"host_concurrency": limit} if limit else {}))
    assert_all_ok(job, pages, site, ["/", *paths])
    peak = site.max_in_flight()
    assert peak <= want, (f"{peak} fetches in flight at once on one host, limit {want}: "
                          f"{in_flight_at_peak(site)}")
    assert peak == want, f"at most {peak} in flight, so this run did not show the limit of {want}"
    print(f"limit {want}: peak {peak} in flight; pages by worker "
          f"{sorted({p['worker'] for p in pages.values()})}")


@pytest.mark.slow
def test_host_delay_spaces_the_starts_of_fetches(make_stack):
    """C{host_delay} from the query string of a text submission."""
    stack = pool(make_stack)
    paths = [f"/p/{i}" for i in range(11)]
    with FixtureSite(fan_out(paths), host="127.0.0.2") as site:
        status, _, raw = stack.client.request("POST", "/jobs?host_delay=0.5", site.url("/").encode(),
                                              content_type=TEXT)
        assert status == 201, raw
        job_id = json.loads(raw)["id"]
        job = stack.client.wait_done(job_id, timeout=JOB_TIMEOUT)
        pages = stack.client.pages(job_id)
    assert_all_ok(job, pages, site, ["/", *paths])
    assert_spaced(site, site.seen(), 0.5)


@pytest.mark.slow
def test_two_jobs_on_one_host_get_the_stricter_limits(make_stack):
    """One job asks for one fetch at a time, the other for 0.3 s between
    starts: while both crawl the host, both limits hold."""
    stack = pool(make_stack)
    a_paths, b_paths = [f"/a/{i}" for i in range(12)], [f"/b/{i}" for i in range(12)]
    routes = {**fan_out(a_paths, delay=0.2, home="/a/"), **fan_out(b_paths, delay=0.2, home="/b/")}
    with FixtureSite(routes, host="127.0.0.2") as site:
        a = stack.client.submit([site.url("/a/")], host_concurrency=1, host_delay=0)
        b = stack.client.submit([site.url("/b/")], host_concurrency=3, host_delay=0.3)
        jobs = [stack.client.wait_done(j, timeout=JOB_TIMEOUT) for j in (a, b)]
        assert_all_ok(jobs[0], stack.client.pages(a), site, ["/a/", *a_paths])
        assert_all_ok(jobs[1], stack.client.pages(b), site, ["/b/", *b_paths])
    requests = site.seen()
    a_starts = [r.start for r in requests if r.path.startswith("/a/")]
    b_starts = [r.start for r in requests if r.path.startswith("/b/")]
    # While both jobs still had pages to fetch from the host:
    both = [r for r in requests
            if max(a_starts[0], b_starts[0]) <= r.start <= min(a_starts[-1], b_starts[-1])]
    assert len(both) >= 4, f"the two jobs hardly overlapped ({len(both)} requests): nothing to judge"
    crowded = [(r.path, r.in_flight) for r in both if r.in_flight > 1]
    assert not crowded, f"more than one fetch in flight while both jobs ran: {crowded}"
    assert_spaced(site, both, 0.3)


@pytest.mark.slow
def test_crawl_delay_of_robots_txt_spaces_the_fetches(make_stack):
    stack = pool(make_stack)
    paths = [f"/p/{i}" for i in range(4)]
    routes = {**fan_out(paths), "/robots.txt": robots("User-agent: *\nCrawl-delay: 1\n")}
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert_all_ok(job, pages, site, ["/", *paths])
    requests = site.seen()
    assert requests[0].path == "/robots.txt" and site.hits["/robots.txt"] == 1, \
        [r.path for r in requests]
    assert_spaced(site, requests, 1.0)


def test_crawl_delay_is_capped_by_max_crawl_delay(make_stack):
    """A Crawl-delay of an hour, capped at 0.4 s: the crawl completes in seconds."""
    stack = pool(make_stack, MAX_CRAWL_DELAY=0.4)
    paths = [f"/p/{i}" for i in range(4)]
    routes = {**fan_out(paths), "/robots.txt": robots("User-agent: *\nCrawl-delay: 3600\n")}
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert_all_ok(job, pages, site, ["/", *paths])
    assert_spaced(site, site.seen(), 0.4)


# --- robots.txt: once for the pool, RFC 9309 -------------------------------


def test_robots_txt_is_fetched_once_for_the_pool(make_stack):
    """Three jobs, three workers, one host, a slow robots.txt: one fetch of it."""
    stack = pool(make_stack)
    routes = {"/robots.txt": (200, {"Content-Type": TEXT}, slow(0.5, "User-agent: *\nDisallow: /private/\n"))}
    for j in range(3):
        routes.update(fan_out([f"/j{j}/pub/{k}" for k in range(3)] +
                              [f"/private/{j}/{k}" for k in range(3)], home=f"/j{j}/"))
    with FixtureSite(routes, host="127.0.0.2") as site:
        job_ids = [stack.client.submit([site.url(f"/j{j}/")]) for j in range(3)]
        for j, job_id in enumerate(job_ids):
            job = stack.client.wait_done(job_id, timeout=JOB_TIMEOUT)
            pages = stack.client.pages(job_id)
            assert job["status"] == "completed"
            assert len(pages) == 7
            for k in range(3):
                assert pages[site.url(f"/j{j}/pub/{k}")]["status"] == 200
                skipped = pages[site.url(f"/private/{j}/{k}")]
                assert_skipped_by_robots(skipped)
            assert job["stats"]["pages_skipped"] == 3, job["stats"]
    assert site.hits["/robots.txt"] == 1, f"robots.txt fetched {site.hits['/robots.txt']} times"
    private = [r.path for r in site.seen() if r.path.startswith("/private/")]
    assert not private, f"disallowed pages requested: {private}"


@pytest.mark.parametrize("status", [404, 403])
def test_robots_txt_4xx_allows_everything(make_stack, status):
    """RFC 9309 2.3.1.3: a 4xx robots.txt (even 401/403) means no rules; its
    body is an error page, not rules."""
    stack = pool(make_stack)
    paths = ["/private/1", "/p/1"]
    routes = {**fan_out(paths), "/robots.txt": robots("User-agent: *\nDisallow: /\n", status=status)}
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert_all_ok(job, pages, site, ["/", *paths])
    assert job["stats"]["pages_skipped"] == 0
    assert site.hits["/robots.txt"] == 1


def test_robots_txt_5xx_holds_the_pages_until_it_answers(make_stack):
    """robots.txt answers 500 twice, then 200: no page is fetched before
    the rules are known, and then the rules are obeyed."""
    stack = pool(make_stack)
    paths = ["/p/1", "/p/2", "/private/1"]
    rules = robots("User-agent: *\nDisallow: /private/\n")
    routes = {**fan_out(paths), "/robots.txt": [robots("down", 500), robots("down", 500), rules]}
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert job["status"] == "completed"
    assert site.hits["/robots.txt"] == 3, f"robots.txt fetched {site.hits['/robots.txt']} times"
    answered = site.seen("/robots.txt")[-1].start
    early = [(r.path, round(r.start - answered, 3)) for r in site.seen()
             if r.path != "/robots.txt" and r.start < answered]
    assert not early, f"pages fetched before robots.txt answered 200: {early}"
    for path in ("/", "/p/1", "/p/2"):
        assert pages[site.url(path)]["status"] == 200, pages[site.url(path)]
    private = pages[site.url("/private/1")]
    assert_skipped_by_robots(private)
    assert site.hits["/private/1"] == 0


@pytest.mark.parametrize("answer", [robots("down", 500), (None, {}, b"SSH-2.0-not-http\r\n")],
                         ids=["500", "not-http"])
def test_robots_txt_failing_for_good_skips_the_hosts_pages(make_stack, answer):
    """After MAX_ATTEMPTS failed robots.txt fetches in a row the host's
    pages are skipped, never fetched, and the job completes."""
    stack = pool(make_stack)
    starts = ["/", "/a", "/b"]
    with FixtureSite({"/robots.txt": answer, **fan_out(["/a", "/b"])}, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url(p) for p in starts], max_depth=0)
    assert job["status"] == "completed", job
    assert site.hits["/robots.txt"] == MAX_ATTEMPTS, f"robots.txt fetched {site.hits['/robots.txt']} times"
    assert set(site.hits) == {"/robots.txt"}, f"pages fetched without rules: {dict(site.hits)}"
    assert set(pages) == {site.url(p) for p in starts}
    for url, record in pages.items():
        reason = f"{record.get('skipped')} {record.get('error')}"
        assert record["status"] == "skipped" and "robots.txt" in reason, \
            f"want skipped, with a reason naming robots.txt: {json.dumps(record)}"
    assert job["stats"]["pages_skipped"] == 3, job["stats"]


@pytest.mark.parametrize("hops", [5, 6])
def test_robots_txt_redirects_are_followed_five_times(make_stack, hops):
    """RFC 9309 2.3.1.2: at least five redirects followed; here at most five too."""
    stack = pool(make_stack)
    chain = ["/robots.txt", *(f"/robots/{i}" for i in range(1, hops + 1))]
    routes = {here: (301, {"Location": there, "Content-Type": TEXT}, b"")
              for here, there in zip(chain, chain[1:])}
    routes[chain[-1]] = robots("User-agent: *\nDisallow: /private/\n")
    routes.update(fan_out(["/p/1", "/private/1"]))
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert job["status"] == "completed", job
    assert set(pages) == {site.url(p) for p in ("/", "/p/1", "/private/1")}
    if hops == 5:
        assert [site.hits[p] for p in chain] == [1] * len(chain), dict(site.hits)
        assert pages[site.url("/p/1")]["status"] == 200
        private = pages[site.url("/private/1")]
        assert_skipped_by_robots(private)
        assert site.hits["/private/1"] == 0
    else:
        assert site.hits[chain[-1]] == 0, f"a sixth redirect was followed: {dict(site.hits)}"


def test_robots_txt_is_read_up_to_500_kib(make_stack):
    """Rules past the first 500 KiB of a robots.txt are not read."""
    stack = pool(make_stack)
    filler = "".join(f"# {i:07d} comments and nothing else, padding this robots.txt out\n"
                     for i in range(600 * 1024 // 64))
    text = "User-agent: *\nDisallow: /early\n" + filler + "Disallow: /late\n"
    assert text.index("Disallow: /late") > 512 * 1024
    routes = {**fan_out(["/early", "/late"]), "/robots.txt": robots(text)}
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert job["status"] == "completed"
    early = pages[site.url("/early")]
    assert_skipped_by_robots(early)
    assert pages[site.url("/late")]["status"] == 200, pages[site.url("/late")]
    assert site.hits["/robots.txt"] == 1


# --- retries: scheduled, with backoff and Retry-After -----------------------


def assert_retried(record, attempts, error):
    """A page that ended 200 after C{attempts} tries, the earlier ones C{error}."""
    shown = json.dumps(record)
    assert record["status"] == 200 and record["attempt"] == attempts, f"want 200 at attempt {attempts}: {shown}"
    tries = record.get("tries")
    assert isinstance(tries, list) and len(tries) == attempts - 1, f"want {attempts - 1} earlier tries: {shown}"
    for n, earlier in enumerate(tries, 1):
        assert earlier.get("attempt") == n and error in str(earlier.get("error")), \
            f"want try {n} to say {error!r}: {shown}"
    return tries


def test_retry_after_seconds_delays_the_retry_and_pauses_the_host(make_stack):
    """A 503 with Retry-After: 2: the retry comes 2 s after the answer, and
    no other fetch starts on the host meanwhile (another job's included)."""
    stack = pool(make_stack)
    grace = 0.5     # for the pause to reach the other workers
    paths = [f"/p/{i}" for i in range(6)]
    routes = {**fan_out(paths, delay=0.3),
              "/busy": [page("busy", status=503, **{"Retry-After": "2"}), page('<img src="/img/ok.png">')]}
    with FixtureSite(routes, host="127.0.0.2") as site:
        busy = stack.client.submit([site.url("/busy")], max_depth=0)
        first = wait_for(lambda: served(site, "/busy"), 30, "the 503 to be answered")
        others = stack.client.submit([site.url(p) for p in paths], max_depth=0, host_concurrency=1)
        jobs = [stack.client.wait_done(j, timeout=JOB_TIMEOUT) for j in (busy, others)]
        record = stack.client.pages(busy)[site.url("/busy")]
        assert_all_ok(jobs[1], stack.client.pages(others), site, paths)
    assert jobs[0]["status"] == "completed"
    tries = assert_retried(record, 2, "503")
    if "retry_in" in tries[0]:
        assert tries[0]["retry_in"] >= 2, tries
    second = site.seen("/busy")[1]
    assert second.start - first.end >= 2 - TOLERANCE, f"retried {second.start - first.end:.3f} s after the 503"
    print(f"Retry-After: 2 -> retried {second.start - first.end:.3f} s after the 503")
    during = [(r.path, round(r.start - first.end, 3)) for r in site.seen()
              if first.end + grace < r.start < first.end + 2 - TOLERANCE]
    assert not during, f"fetches started while the host was paused by Retry-After: {during}"


def test_retry_after_http_date_is_obeyed(make_stack):
    """A 429 whose Retry-After is an HTTP-date 3 s ahead (whole seconds:
    more than 2 s from the answer)."""
    stack = pool(make_stack)

    def limited(site):
        return page("slow down", status=429, **{"Retry-After": formatdate(time.time() + 3, usegmt=True)})

    with FixtureSite({"/": [limited, page('<img src="/img/a.png">')]}, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert job["status"] == "completed"
    assert_retried(pages[site.url("/")], 2, "429")
    first, second = site.seen("/")
    assert second.start - first.end >= 2 - TOLERANCE, f"retried {second.start - first.end:.3f} s after the 429"


def test_5xx_is_retried_with_exponential_backoff(make_stack):
    """RETRY_BASE_SECONDS=0.4, equal jitter: retry 1 waits 0.2-0.4 s, retry 2 0.4-0.8 s."""
    stack = pool(make_stack, RETRY_BASE_SECONDS=0.4)
    error, ok = page("oops", status=500), page('<img src="/img/ok.png">')
    routes = {"/once": [error, ok], "/twice": [error, error, ok]}
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/once"), site.url("/twice")], max_depth=0)
    assert job["status"] == "completed"
    assert_retried(pages[site.url("/once")], 2, "HTTP 500")
    tries = assert_retried(pages[site.url("/twice")], 3, "HTTP 500")
    for earlier, (low, high) in zip(tries, [(0.2, 0.4), (0.4, 0.8)]):
        if "retry_in" in earlier:
            assert low <= earlier["retry_in"] <= high, tries
    answers = site.seen("/twice")
    waits = [b.start - a.end for a, b in zip(answers, answers[1:])]
    assert waits[0] >= 0.2 - TOLERANCE and waits[1] >= 0.4 - TOLERANCE, f"waits {waits}"
    assert job["stats"]["pages_crawled"] == 2 and job["stats"]["pages_failed"] == 0, job["stats"]


def test_5xx_forever_fails_after_max_attempts(make_stack):
    stack = pool(make_stack)
    routes = {"/": page('<a href="/broken">b</a><img src="/img/a.png">'), "/broken": page("oops", status=500)}
    with FixtureSite(routes, host="127.0.0.2") as site:
        job, pages = crawl(stack, [site.url("/")])
    assert job["status"] == "completed"
    broken = pages[site.url("/broken")]
    shown = json.dumps(broken)
    assert broken["status"] == 500 and "500" in broken.get("error", ""), shown
    assert broken["attempt"] == MAX_ATTEMPTS, f"want {MAX_ATTEMPTS} attempts: {shown}"
    assert len(broken.get("tries", [])) == MAX_ATTEMPTS - 1, f"want {MAX_ATTEMPTS - 1} earlier tries: {shown}"
    assert site.hits["/broken"] == MAX_ATTEMPTS
    assert job["stats"]["pages_failed"] == 1 and job["stats"]["pages_crawled"] == 1, job["stats"]


# --- a slow host costs no worker slot ----------------------------------------


def test_a_slow_host_does_not_hold_up_a_fast_one(make_stack):
    """20 pages of 2 s each on a host allowed one fetch at a time (40 s of
    work) and 20 quick pages on another: the quick ones are all done while
    the slow host has served a few."""
    stack = pool(make_stack, WORKER_CONCURRENCY=2, FETCH_TIMEOUT=10)
    slow_paths = [f"/s/{i}" for i in range(20)]
    fast_paths = [f"/f/{i}" for i in range(20)]
    with FixtureSite(fan_out(slow_paths, delay=2.0), host="127.0.0.3") as slow_site, \
            FixtureSite({}, host="127.0.0.2") as fast_site:
        links = "".join(f'<a href="{slow_site.url(p)}">s</a>' for p in slow_paths)
        links += "".join(f'<a href="{p}">f</a>' for p in fast_paths)
        fast_site.routes.update(fan_out(fast_paths))
        fast_site.routes["/"] = page(links)
        job_id = stack.client.submit([fast_site.url("/")], scope="any", host_concurrency=1)
        fast_urls = {fast_site.url(p) for p in fast_paths}

        def fast_done():
            return fast_urls <= set(stack.client.pages(job_id))

        wait_for(fast_done, JOB_TIMEOUT, "the fast host's pages to be recorded")
        slow_requests = [r.path for r in slow_site.seen() if r.path.startswith("/s/")]
        stack.client.json("DELETE", f"/jobs/{job_id}")
    assert len(slow_requests) < 6, (f"the slow host had served {len(slow_requests)} pages before the fast "
                                    "host's 20 were done: tasks waiting for a busy host held worker slots")
    print(f"fast host done while the slow host had started {len(slow_requests)} of 20 pages")
