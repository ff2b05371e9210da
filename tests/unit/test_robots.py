"""
worker/robots.py: the pool's robots.txt, with the store's fake (the real
Lua over fakeredis), a fetcher whose answers the test gives, and a Clock.
"""

import dataclasses

import pytest
from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.internet.task import Clock

from common import keys
from common.keys import START_MARGIN
from common.config import from_env
from tests.fakes import FakeStore
from worker.fetch import Fetched, FetchTimeout, TooManyRedirects
from common.safety import BlockedAddress
from worker.robots import (
    KEEP_DENIED_SECONDS, KEEP_SECONDS, ROBOTS_BYTES, ROBOTS_REDIRECTS, PoolRobots, crawl_delay,
    header_nofollow, outcome_of)

T0 = 1_700_000_000.0
AGENT = "ImageCrawler/1.0 (+https://example.test/bot)"
CONFIG = dataclasses.replace(from_env({}), crawl_user_agent=AGENT, max_crawl_delay=5.0)
OPTIONS = {"max_depth": 1, "scope": "host", "max_pages": 100,
           "host_concurrency": 4, "host_delay": 0.0}
HOST = "http://a.test"


class Fetcher:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def fetch(self, url, any_type=False, limit=None, max_redirects=None):
        self.calls.append((url, any_type, limit, max_redirects))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            return fail(answer)
        status, body = answer
        return succeed(Fetched(url, status, "text/plain", body))


def result_of(coroutine):
    results = []
    ensureDeferred(coroutine).addBoth(results.append)
    assert results, "did not fire"
    return results[0]


class Pool:
    """A job on a.test, leased and started so that its task has the robots duty."""

    def __init__(self, *answers):
        self.clock = Clock()
        self.clock.advance(T0)
        self.store = FakeStore(self.clock)
        self.fetcher = Fetcher(*answers)
        self.robots = PoolRobots(self.store, self.fetcher, CONFIG, self.clock)
        self.job = result_of(self.store.create([f"{HOST}/", f"{HOST}/private/x"], OPTIONS))
        result_of(self.store.heartbeat("w1", 86400, 10))

    def take(self):
        (task,), _ = result_of(self.store.lease(6, 10))
        return task, result_of(self.store.start(task, 60, False, "w1", True))

    def host(self):
        return self.store.redis_state.hgetall(keys.host(HOST))


def test_outcomes_follow_rfc_9309():
    assert outcome_of(200, b"User-agent: *") == ("rules", "User-agent: *")
    assert outcome_of(204, None) == ("rules", "")
    assert outcome_of(404, b"gone") == ("allow", "")
    assert outcome_of(403, b"") == ("allow", "")
    assert outcome_of(500, b"") == ("fail", "")
    assert outcome_of(503, b"") == ("fail", "")


def test_crawl_delay_is_read_for_our_agent_and_capped():
    assert crawl_delay("User-agent: *\nCrawl-delay: 2\n", AGENT, 5) == 2
    assert crawl_delay("User-agent: *\nCrawl-delay: 60\n", AGENT, 5) == 5
    assert crawl_delay("User-agent: other\nCrawl-delay: 3\n", AGENT, 5) == 0
    assert crawl_delay("", AGENT, 5) == 0


def test_the_duty_fetches_robots_txt_within_rfc_bounds_and_shares_the_rules():
    pool = Pool((200, b"User-agent: *\nDisallow: /private\nCrawl-delay: 2\n"))
    task, started = pool.take()
    assert started.robots == "fetch"
    result_of(pool.robots.fetch_for(task))
    assert pool.fetcher.calls == [(f"{HOST}/robots.txt", True, ROBOTS_BYTES, ROBOTS_REDIRECTS)]
    host = pool.host()
    assert host["robots_answer"].startswith("rules ") and float(host["crawl_delay"]) == 2
    assert float(host["robots_until"]) == pytest.approx(T0 + KEEP_SECONDS)
    # The duty's task went back; both tasks now get the shared rules, once
    # the Crawl-delay since the robots.txt fetch has passed.
    pool.clock.advance(2 + START_MARGIN)
    (first,), _ = result_of(pool.store.lease(6, 10))
    started = result_of(pool.store.start(first, 60, False, "w1", True))
    assert started.robots == host["robots_answer"] and started.attempt == 1
    assert result_of(pool.robots.allowed(f"{HOST}/", started.robots)) == (True, "")
    assert result_of(pool.robots.allowed(f"{HOST}/private/x", started.robots)) == (False, "")


def test_rules_are_read_from_redis_once_per_version():
    pool = Pool((200, b"User-agent: *\nDisallow: /private\n"))
    task, _ = pool.take()
    result_of(pool.robots.fetch_for(task))
    answer = pool.host()["robots_answer"]
    for _ in range(3):
        result_of(pool.robots.allowed(f"{HOST}/", answer))
    assert len(pool.store.called("robots_rules")) == 1


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_a_4xx_robots_txt_allows_everything(status):
    pool = Pool((status, b"User-agent: *\nDisallow: /\n"))
    task, _ = pool.take()
    result_of(pool.robots.fetch_for(task))
    assert pool.host()["robots_answer"] == "allow"
    assert result_of(pool.robots.allowed(f"{HOST}/private/x", "allow")) == (True, "")


@pytest.mark.parametrize("answer", [(500, b""), (503, b""), FetchTimeout("timed out after 20 s")])
def test_an_unreachable_robots_txt_holds_the_host_and_is_tried_again(answer):
    pool = Pool(answer)
    task, _ = pool.take()
    result_of(pool.robots.fetch_for(task))
    host = pool.host()
    assert host["robots"] == "wait" and float(host["robots_until"]) > T0
    tasks, wake = result_of(pool.store.lease(6, 10))
    assert tasks == [] and wake == pytest.approx(float(host["robots_until"]))


def test_after_max_attempts_failures_the_hosts_pages_are_skipped_with_the_reason():
    pool = Pool(*[(503, b"")] * CONFIG.max_attempts)
    for _ in range(CONFIG.max_attempts):
        task, started = pool.take()
        assert started.robots == "fetch"
        result_of(pool.robots.fetch_for(task))
        pool.clock.advance(60)
    answer = pool.host()["robots_answer"]
    assert answer.startswith("deny ") and "HTTP 503" in answer
    assert float(pool.host()["robots_until"]) == pytest.approx(
        pool.clock.seconds() - 60 + KEEP_DENIED_SECONDS)
    allowed, why = result_of(pool.robots.allowed(f"{HOST}/", answer))
    assert not allowed and "robots.txt unreachable" in why


@pytest.mark.parametrize("error", [BlockedAddress(string="refused"), TooManyRedirects("more than 5")])
def test_a_refused_address_or_too_many_redirects_allows_all(error):
    pool = Pool(error)
    task, _ = pool.take()
    result_of(pool.robots.fetch_for(task))
    assert pool.host()["robots_answer"] == "allow"


def test_no_answer_means_the_job_does_not_obey_robots_txt():
    pool = Pool()
    assert result_of(pool.robots.allowed(f"{HOST}/private/x", "")) == (True, "")


def test_a_hanging_robots_fetch_holds_the_duty_until_it_ends():
    pool = Pool()
    pending = Deferred()
    pool.fetcher.fetch = lambda *a, **k: pending
    task, _ = pool.take()
    d = ensureDeferred(pool.robots.fetch_for(task))
    assert result_of(pool.store.lease(6, 10))[0] == [], "the host's other task waits"
    pending.errback(FetchTimeout("timed out"))
    assert d.called and pool.host()["robots"] == "wait"


AGENT = "ImageCrawler/1.0 (+https://github.com/imagecrawler)"


@pytest.mark.parametrize("values, nofollow", [
    ((), False),
    (("noindex",), False),
    (("nofollow",), True),
    (("NoIndex, NoFollow",), True),
    (("none",), True),
    (("noindex", "nofollow"), True),
    (("otherbot: nofollow",), False),
    (("imagecrawler: nofollow",), True),
    (("ImageCrawler: none",), True),
    (("unavailable_after: 25 Jun 2010 15:00:00 PST",), False),
    (("noindex, unavailable_after: 25 Jun 2010 15:00:00 PST",), False),
    (("max-image-preview: large, nofollow",), True),
    (("otherbot: noindex", "nofollow"), True),
])
def test_x_robots_tag_nofollow_for_every_crawler_or_for_this_one(values, nofollow):
    assert header_nofollow(values, AGENT) is nofollow
