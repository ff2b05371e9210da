"""worker/robots.py with a fake fetcher and a Clock: no network, no sleeps."""

from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.task import Clock

from worker.fetch import Fetched, FetchTimeout
from worker.robots import KEEP_FAILURE_SECONDS, KEEP_SECONDS, Robots, origin, rules_from

AGENT = "ImageCrawler/1.0 (+https://example.test/bot)"
RULES = b"User-agent: *\nDisallow: /private\n"


class Fetcher:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.urls = []

    def fetch(self, url, any_type=False, limit=None):
        assert any_type and limit
        self.urls.append(url)
        answer = self.answers.pop(0)
        if isinstance(answer, Deferred):
            return answer
        if isinstance(answer, Exception):
            d = Deferred()
            d.errback(answer)
            return d
        status, body = answer
        return succeed(Fetched(url, status, "text/plain", body))


def allowed(robots, url):
    d = ensureDeferred(robots.allowed(url))
    results = []
    d.addBoth(results.append)
    assert results, "allowed() did not fire"
    return results[0]


def test_origin_keeps_scheme_host_and_port():
    assert origin("https://a.test:8443/x/y?z") == "https://a.test:8443"
    assert origin("http://a.test/") == "http://a.test"


def test_rules_from_allows_all_unless_2xx():
    assert not rules_from(200, RULES).can_fetch("http://a.test/private/1", AGENT)
    for status, body in ((404, None), (403, b"x"), (None, None), (200, None)):
        assert rules_from(status, body).can_fetch("http://a.test/private/1", AGENT)


def test_disallowed_paths_and_one_fetch_per_site():
    fetcher = Fetcher((200, RULES))
    robots = Robots(fetcher, AGENT, Clock())
    assert allowed(robots, "http://a.test/private/page") is False
    assert allowed(robots, "http://a.test/public") is True
    assert fetcher.urls == ["http://a.test/robots.txt"]


def test_rules_for_another_agent_do_not_apply():
    fetcher = Fetcher((200, b"User-agent: OtherBot\nDisallow: /\n"))
    assert allowed(Robots(fetcher, AGENT, Clock()), "http://a.test/x") is True


def test_concurrent_pages_wait_for_the_one_fetch():
    pending = Deferred()
    fetcher = Fetcher(pending)
    robots = Robots(fetcher, AGENT, Clock())
    first = ensureDeferred(robots.allowed("http://a.test/private/1"))
    second = ensureDeferred(robots.allowed("http://a.test/ok"))
    assert not first.called and not second.called
    pending.callback(Fetched("http://a.test/robots.txt", 200, "text/plain", RULES))
    assert [first.result, second.result] == [False, True]
    assert len(fetcher.urls) == 1


def test_rules_expire_and_failures_allow_for_a_shorter_while():
    clock = Clock()
    fetcher = Fetcher(FetchTimeout("timed out"), (200, RULES), (200, b""))
    robots = Robots(fetcher, AGENT, clock)
    assert allowed(robots, "http://a.test/private/1") is True
    clock.advance(KEEP_FAILURE_SECONDS - 1)
    assert allowed(robots, "http://a.test/private/1") is True
    clock.advance(2)
    assert allowed(robots, "http://a.test/private/1") is False
    clock.advance(KEEP_SECONDS + 1)
    assert allowed(robots, "http://a.test/private/1") is True
    assert len(fetcher.urls) == 3


def test_server_errors_allow_all():
    robots = Robots(Fetcher((503, b"User-agent: *\nDisallow: /\n")), AGENT, Clock())
    assert allowed(robots, "http://a.test/x") is True


def test_the_cache_is_bounded():
    fetcher = Fetcher(*[(404, None)] * 5)
    robots = Robots(fetcher, AGENT, Clock(), max_origins=2)
    for host in ("a", "b", "c", "a"):
        allowed(robots, f"http://{host}.test/")
    assert fetcher.urls[-1] == "http://a.test/robots.txt", "a was evicted and fetched again"
