"""
worker/fetch.py against treq's in-memory HTTP: no sockets, time on a Clock.

The server is a twisted.web resource behind treq's L{RequestTraversalAgent}
(what L{StubTreq} uses), wrapped in an L{HTTPClient} with the production
L{NoCookies} jar: StubTreq's own client keeps every cookie it is sent, which
would hide whether the fetcher keeps them itself.  L{make_client}'s client
runs at the end of this module on a L{MemoryReactorClock} (its cookie jar,
its address guard on every redirect hop); StubTreq has no connection pool,
so that is tested on real sockets in tests/integration/test_fetch_loopback.py.
"""

import dataclasses
import gzip
import time
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent, StubTreq
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from common.config import from_env
from worker.fetch import (
    FetchError, Fetcher, FetchTimeout, NoCookies, make_client, request_url, retry_after,
)
from common.safety import BlockedAddress, UnusableHost

CONFIG = dataclasses.replace(
    from_env({}), fetch_timeout=20, max_redirects=3, max_body_bytes=1000,
    max_retry_after=120, crawl_user_agent="TestBot/1.0 (+https://bot.test/)")
HTML = {"Content-Type": "text/html; charset=utf-8"}
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


class Server(Resource):
    """
    Routes by absolute URL to C{(status, headers, body)} or to a callable
    taking the request; records every request it gets.
    """

    isLeaf = True

    def __init__(self, routes):
        super().__init__()
        self.routes = routes
        self.requests = []

    def render(self, request):
        scheme = "https" if request.isSecure() else "http"
        url = f"{scheme}://{request.getHeader('host')}{request.uri.decode()}"
        self.requests.append((url, request))
        request.defaultContentType = None       # "no Content-Type" must mean none
        route = self.routes.get(url, (404, HTML, b"<h1>not found</h1>"))
        if callable(route):
            return route(request)
        status, headers, body = route
        request.setResponseCode(status)
        for name, value in headers.items():
            request.responseHeaders.setRawHeaders(name, value if isinstance(value, list) else [value])
        return body

    def sent(self, name):
        """The C{name} request header of every request, in order."""
        return [request.getHeader(name) for _, request in self.requests]


class Harness:
    def __init__(self, routes, **settings):
        self.server = Server(routes)
        self.agent = RequestTraversalAgent(self.server)
        self.clock = Clock()
        self.clock.advance(NOW.timestamp())
        client = HTTPClient(self.agent, cookiejar=NoCookies())
        self.fetcher = Fetcher(client, self.clock, dataclasses.replace(CONFIG, **settings))

    def fetch(self, url, **kwargs):
        d = self.fetcher.fetch(url, **kwargs)
        self.agent.flush()
        return d


def result_of(d):
    results = []
    d.addBoth(results.append)
    assert results, "the fetch is still waiting"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def fetch(routes, url, **kwargs):
    return result_of(Harness(routes).fetch(url, **kwargs))


def redirect(status, location, **headers):
    return status, {"Location": location, **headers}, b"moved"


# --- redirects ---------------------------------------------------------------------------


def test_each_hop_is_recorded_normalised_and_relative_locations_resolved():
    page = fetch({
        "http://a.test/start": redirect(301, "../Next?q=1#frag"),
        "http://a.test/Next?q=1": redirect(302, "HTTP://B.TEST:80/final"),
        "http://b.test/final": (200, HTML, b"<p>done</p>"),
    }, "http://a.test/start")
    assert page.redirects == [
        {"status": 301, "url": "http://a.test/Next?q=1"},
        {"status": 302, "url": "http://b.test/final"},
    ]
    assert (page.url, page.status, page.body) == ("http://b.test/final", 200, b"<p>done</p>")


@pytest.mark.parametrize("status", [303, 307, 308])
def test_other_redirect_codes_are_followed(status):
    page = fetch({"http://a.test/": redirect(status, "/b"),
                  "http://a.test/b": (200, HTML, b"<p>b</p>")}, "http://a.test/")
    assert page.redirects == [{"status": status, "url": "http://a.test/b"}]


def chain(length):
    """A chain of C{length} redirects ending at a page."""
    routes = {f"http://a.test/{i}": redirect(302, f"/{i + 1}") for i in range(length)}
    routes[f"http://a.test/{length}"] = (200, HTML, b"<p>end</p>")
    return routes


def test_max_redirects_are_followed_and_one_more_fails():
    assert len(fetch(chain(3), "http://a.test/0").redirects) == 3
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch(chain(4), "http://a.test/0")


def test_max_redirects_per_call_overrides_the_setting():
    assert len(fetch(chain(5), "http://a.test/0", max_redirects=5).redirects) == 5
    with pytest.raises(FetchError, match="more than 0 redirects"):
        fetch(chain(1), "http://a.test/0", max_redirects=0)


@pytest.mark.parametrize("location", ["mailto:x@a.test", "http://", "javascript:alert(1)"])
def test_an_unusable_location_fails(location):
    with pytest.raises(FetchError, match="unusable location"):
        fetch({"http://a.test/": redirect(302, location)}, "http://a.test/")


def test_a_redirect_without_location_is_the_answer():
    page = fetch({"http://a.test/": (302, HTML, b"<p>no location</p>")}, "http://a.test/")
    assert (page.status, page.redirects) == (302, [])


# --- size caps ---------------------------------------------------------------------------


def test_a_body_over_the_limit_is_cut_at_exactly_the_limit():
    routes = {"http://a.test/": (200, HTML, b"<p>" + b"x" * 5000)}
    page = fetch(routes, "http://a.test/")
    assert (len(page.body), page.truncated) == (1000, True)
    page = fetch(routes, "http://a.test/", limit=100)
    assert (page.body, page.truncated) == (b"<p>" + b"x" * 97, True)


def test_a_body_of_exactly_the_limit_is_whole():
    page = fetch({"http://a.test/": (200, HTML, b"<p>" + b"x" * 997)}, "http://a.test/")
    assert (len(page.body), page.truncated) == (1000, False)


def test_gzip_bodies_are_decoded_then_capped():
    gz = {**HTML, "Content-Encoding": "gzip"}
    page = fetch({"http://a.test/": (200, gz, gzip.compress(b"<p>" + b"x" * 100_000))},
                 "http://a.test/")
    assert (page.body, page.truncated) == (b"<p>" + b"x" * 997, True)
    page = fetch({"http://a.test/": (200, gz, gzip.compress(b"<p>small</p>"))}, "http://a.test/")
    assert (page.body, page.truncated) == (b"<p>small</p>", False)


# --- content types -----------------------------------------------------------------------


def test_non_html_bodies_are_not_read():
    page = fetch({"http://a.test/p.png": (200, {"Content-Type": "image/png"}, b"\x89PNG")},
                 "http://a.test/p.png")
    assert (page.status, page.content_type, page.body) == (200, "image/png", None)


@pytest.mark.parametrize(("headers", "body", "expected"), [
    ({}, b"  <!DOCTYPE html><p>hi", b"  <!DOCTYPE html><p>hi"),
    ({}, b"just text", None),
    ({"Content-Type": "application/unknown"}, b"<html><p>hi", b"<html><p>hi"),
    ({"Content-Type": "application/unknown"}, b"\x89PNG", None),
])
def test_an_undeclared_type_is_sniffed(headers, body, expected):
    assert fetch({"http://a.test/": (200, headers, body)}, "http://a.test/").body == expected


def test_any_type_reads_anything():
    routes = {"http://a.test/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *")}
    assert fetch(routes, "http://a.test/robots.txt", any_type=True).body == b"User-agent: *"
    routes = {"http://a.test/robots.txt": (200, {}, b"Disallow: /")}
    assert fetch(routes, "http://a.test/robots.txt", any_type=True).body == b"Disallow: /"


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_error_statuses_have_no_body(status):
    page = fetch({"http://a.test/": (status, HTML, b"<h1>error</h1>")}, "http://a.test/")
    assert (page.status, page.body, page.content_type) == (status, None, HTML["Content-Type"])


# --- timeouts ----------------------------------------------------------------------------


def hang(request):
    return NOT_DONE_YET


def headers_then_hang(request):
    request.setHeader("Content-Type", "text/html")
    request.write(b"<p>the start of a body that never ends")
    return NOT_DONE_YET


@pytest.mark.parametrize("route", [hang, headers_then_hang])
def test_the_whole_fetch_times_out_and_the_request_is_cancelled(route):
    h = Harness({"http://a.test/": route})
    d = h.fetch("http://a.test/")
    [(_, request)] = h.server.requests
    gone = []
    request.notifyFinish().addErrback(gone.append)
    h.clock.advance(19.9)
    assert not d.called
    h.clock.advance(0.2)
    with pytest.raises(FetchTimeout, match="timed out after 20 s"):
        result_of(d)
    h.agent.flush()
    assert len(gone) == 1, "the server still has the request"


def test_the_timeout_spans_redirects():
    h = Harness({"http://a.test/": redirect(302, "/slow"), "http://a.test/slow": hang})
    d = h.fetch("http://a.test/")
    h.clock.advance(20)
    with pytest.raises(FetchTimeout):
        result_of(d)


# --- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ("30", 30.0),
    (" 0 ", 0.0),
    ("121", 120.0),
    ("9" * 400, 120.0),
    (format_datetime(datetime(2030, 1, 2, 3, 5, 0, tzinfo=timezone.utc), usegmt=True), 55.0),
    ("Wednesday, 02-Jan-30 03:04:15 GMT", 10.0),       # RFC 850
    ("Wed Jan  2 03:04:25 2030", 20.0),                 # asctime
    ("Wed, 02 Jan 2030 03:04:00 GMT", 0.0),             # in the past
    ("Wed, 02 Jan 2031 03:04:00 GMT", 120.0),           # past the cap
    ("soon", None),
    ("", None),
    ("-5", None),
    ("1.5", None),
    ("\u0661\u0662", None),                             # Arabic-Indic digits
    ("Fri, 31 Dec 99999 23:59:59 GMT", None),
])
def test_retry_after_values(value, expected):
    assert retry_after(value, NOW.timestamp(), 120) == expected


@pytest.fixture
def local_zone(monkeypatch):
    """Run in a local time zone that is not GMT."""
    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_an_asctime_date_is_gmt_whatever_the_local_zone(local_zone):
    assert retry_after("Wed Jan  2 03:04:25 2030", NOW.timestamp(), 120) == 20.0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_read_from_the_answer(status):
    date = format_datetime(datetime(2030, 1, 2, 3, 4, 50, tzinfo=timezone.utc), usegmt=True)
    assert fetch({"http://a.test/": (status, {"Retry-After": "7"}, b"")},
                 "http://a.test/").retry_after == 7.0
    assert fetch({"http://a.test/": (status, {"Retry-After": date}, b"")},
                 "http://a.test/").retry_after == 45.0
    assert fetch({"http://a.test/": (status, {}, b"")}, "http://a.test/").retry_after is None


def test_retry_after_is_capped_by_the_setting():
    h = Harness({"http://a.test/": (429, {"Retry-After": "3600"}, b"")}, max_retry_after=60)
    assert result_of(h.fetch("http://a.test/")).retry_after == 60.0


# --- cookies -----------------------------------------------------------------------------


def test_cookies_set_on_a_hop_go_with_the_next_hops_to_the_same_host():
    h = Harness({
        "http://a.test/": redirect(302, "/check", **{"Set-Cookie": [
            "sid=abc; Path=/; HttpOnly; SameSite=Lax", "lang=en; Max-Age=60; Priority=High"]}),
        "http://a.test/check": redirect(302, "http://b.test/", **{"Set-Cookie": "seen=1"}),
        "http://b.test/": redirect(302, "http://a.test/home"),
        "http://a.test/home": (200, HTML, b"<p>home</p>"),
    })
    assert result_of(h.fetch("http://a.test/")).body == b"<p>home</p>"
    assert h.server.sent("cookie") == [
        None, "sid=abc; lang=en", None, "sid=abc; lang=en; seen=1"]


def test_a_secure_cookie_is_not_sent_over_http_and_garbage_is_ignored():
    h = Harness({
        "https://a.test/": redirect(302, "/next", **{"Set-Cookie": [
            "s=1; Secure", "bad cookie", "=x", "p=2"]}),
        "https://a.test/next": redirect(302, "http://a.test/plain"),
        "http://a.test/plain": (200, HTML, b"<p>plain</p>"),
    })
    result_of(h.fetch("https://a.test/"))
    assert h.server.sent("cookie") == [None, "s=1; p=2", "p=2"]


def test_nothing_is_kept_after_a_fetch():
    h = Harness({
        "http://a.test/": redirect(302, "/page", **{"Set-Cookie": "sid=abc"}),
        "http://a.test/page": (200, {**HTML, "Set-Cookie": "late=1"}, b"<p>page</p>"),
    })
    result_of(h.fetch("http://a.test/"))
    result_of(h.fetch("http://a.test/page"))
    assert h.server.sent("cookie") == [None, "sid=abc", None]


# --- what is sent ------------------------------------------------------------------------


def test_request_headers():
    h = Harness({"http://a.test/": (200, HTML, b"<p>hi</p>")})
    result_of(h.fetch("http://a.test/"))
    [(_, request)] = h.server.requests
    headers = request.requestHeaders
    assert request.method == b"GET"
    assert headers.getRawHeaders(b"user-agent") == [b"TestBot/1.0 (+https://bot.test/)"]
    assert headers.getRawHeaders(b"accept") == [b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"]
    assert headers.getRawHeaders(b"accept-language") == [b"*"]
    assert headers.getRawHeaders(b"accept-encoding") == [b"gzip"]


def test_treq_stub_client_works_as_is():
    stub = StubTreq(Server({"http://a.test/": (200, HTML, b"<p>stub</p>")}))
    assert result_of(Fetcher(stub, Clock(), CONFIG).fetch("http://a.test/")).body == b"<p>stub</p>"


# --- make_client, on a memory reactor ----------------------------------------------------


class Resolver:
    """Resolve names from a table, synchronously; remember what was asked."""

    def __init__(self, table):
        self.table = table
        self.asked = []

    def resolveHostName(self, receiver, hostName, portNumber=0, *args, **kwargs):
        self.asked.append(hostName)
        receiver.resolutionBegan(None)
        for host in self.table.get(hostName, []):
            kind = IPv6Address if ":" in host else IPv4Address
            receiver.addressResolved(kind("TCP", host, portNumber))
        receiver.resolutionComplete()


class Wire:
    """Connect every TCP connection a L{MemoryReactorClock} was asked for to a Site."""

    def __init__(self, reactor, resource):
        self.reactor = reactor
        self.site = Site(resource, reactor=reactor)
        self.pumps = []

    def run(self, d):
        while True:
            for _, _, factory, *_ in self.reactor.tcpClients[len(self.pumps):]:
                server, client = self.site.buildProtocol(None), factory.buildProtocol(None)
                self.pumps.append(iosim.connect(
                    server, iosim.FakeTransport(server, isServer=True),
                    client, iosim.FakeTransport(client, isServer=False)))
            for pump in self.pumps:
                pump.flush()
            if len(self.pumps) == len(self.reactor.tcpClients):
                return result_of(d)


def memory_client(routes, table, **settings):
    """The production client, its fetcher, the wire to C{routes} and their server."""
    reactor = MemoryReactorClock()
    reactor.nameResolver = Resolver(table)
    config = dataclasses.replace(CONFIG, **settings)
    server = Server(routes)
    client = make_client(reactor, config)
    return client, Fetcher(client, reactor, config), Wire(reactor, server), server


PUBLIC = {"a.test": ["93.184.216.34"], "inside.test": ["10.0.0.5"]}


def test_make_client_keeps_no_cookie_between_requests():
    routes = {"http://a.test/set": (200, {**HTML, "Set-Cookie": "sid=abc"}, b"<p>set</p>"),
              "http://a.test/get": (200, HTML, b"<p>get</p>")}
    client, fetcher, wire, server = memory_client(routes, PUBLIC)
    wire.run(fetcher.fetch("http://a.test/set"))
    # Not even treq's own cookies= argument gets one in (nor, so, sent).
    wire.run(client.request("GET", "http://a.test/set", cookies={"given": "1"}))
    wire.run(fetcher.fetch("http://a.test/get"))
    assert server.sent("cookie") == [None, None, None]


def test_make_client_checks_the_address_of_every_redirect_hop():
    routes = {"http://a.test/": redirect(302, "http://inside.test/admin"),
              "http://inside.test/admin": (200, HTML, b"<p>admin</p>")}
    _, fetcher, wire, server = memory_client(routes, PUBLIC)
    with pytest.raises(BlockedAddress, match="^blocked: private address$"):
        wire.run(fetcher.fetch("http://a.test/"))
    assert [url for url, _ in server.requests] == ["http://a.test/"]
    _, fetcher, wire, _ = memory_client(routes, PUBLIC, allow_private_networks=True)
    assert wire.run(fetcher.fetch("http://a.test/")).body == b"<p>admin</p>"



# --- what is requested -------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("http://a.test/", b"http://a.test/"),
    ("http://user:pw@a.test:8080/p?q=1", b"http://a.test:8080/p?q=1"),
    ("http://example.com@127.0.0.1/", b"http://127.0.0.1/"),
    ("http://a%40b:c%40d@a.test/", b"http://a.test/"),
    ("https://u@[::1]:8443/x@y?z=@", b"https://[::1]:8443/x@y?z=@"),
    ("http://[2606:4700::1111]/", b"http://[2606:4700::1111]/"),
    ("http://a_b.test/%E2%98%83?q=%20", b"http://a_b.test/%E2%98%83?q=%20"),
])
def test_request_url_is_the_url_without_its_userinfo(url, expected):
    assert request_url(url) == expected


@pytest.mark.parametrize("url", [
    "http://[2606:4700::1111]/", "http://[::1]:8080/x?y=1", "https://[2001:db8::1]/",
    "http://a_b.test/", "http://xn--n3h.test/", "http://a!b$c'd.test/", "http://a.test./",
    "http://x.xn--bcher-kva.test/caf%C3%A9",
])
def test_every_host_the_normaliser_admits_is_requested_as_it_is(url):
    """treq's own encoding raised for each of these (an IDNA error), so the
    page was never recorded and its task kept a worker slot."""
    h = Harness({url: (200, HTML, b"<p>ok</p>")})
    assert result_of(h.fetch(url)).body == b"<p>ok</p>"
    assert [seen for seen, _ in h.server.requests] == [url]


def test_userinfo_is_neither_the_host_nor_sent():
    h = Harness({"http://a.test/": (200, HTML, b"<p>ok</p>")})
    result_of(h.fetch("http://user:secret@a.test/"))
    [(url, request)] = h.server.requests
    assert url == "http://a.test/"
    assert request.getHeader("authorization") is None


# --- the guard under make_client: vectors on a fake resolver -----------------------------


def test_make_client_connects_to_the_host_after_the_userinfo():
    _, fetcher, wire, server = memory_client({}, {**PUBLIC, "10.0.0.5": ["10.0.0.5"]})
    with pytest.raises(BlockedAddress, match="^blocked: private address$"):
        wire.run(fetcher.fetch("http://a.test@10.0.0.5/"))
    assert wire.reactor.nameResolver.asked == ["10.0.0.5"]
    assert server.requests == []


def test_make_client_fetches_an_ipv6_literal():
    url = "http://[2606:4700::1111]/"
    _, fetcher, wire, _ = memory_client({url: (200, HTML, b"<p>v6</p>")},
                                        {"2606:4700::1111": ["2606:4700::1111"]})
    assert wire.run(fetcher.fetch(url)).body == b"<p>v6</p>"
    assert [host for host, *_ in wire.reactor.tcpClients] == ["2606:4700::1111"]


def test_make_client_fails_cleanly_on_https_to_a_host_tls_cannot_name():
    _, fetcher, wire, _ = memory_client({}, {"a_b.test": ["93.184.216.34"]})
    with pytest.raises(UnusableHost, match="TLS takes standard host names only"):
        wire.run(fetcher.fetch("https://a_b.test/"))
    assert wire.reactor.tcpClients == []


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.5", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("fd00:ec2::254", "private"),
    ("fe80::1", "link-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::7f00:1", "loopback"),
    ("2002:a9fe:a9fe::", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
    ("64:ff9b:1::808:808", "private"),
    ("2001:0:808:808::80ff:fffe", "loopback"),
    ("224.0.0.1", "multicast"),
    ("255.255.255.255", "reserved"),
    ("0.0.0.0", "reserved"),
])
def test_a_redirect_to_a_name_resolving_to_a_blocked_address_is_refused(address, kind):
    routes = {"http://a.test/": redirect(302, "http://inner.test/secret")}
    _, fetcher, wire, server = memory_client(routes, {**PUBLIC, "inner.test": [address]})
    with pytest.raises(BlockedAddress) as info:
        wire.run(fetcher.fetch("http://a.test/"))
    assert str(info.value) == f"blocked: {kind} address"
    assert [url for url, _ in server.requests] == ["http://a.test/"]
    assert [host for host, *_ in wire.reactor.tcpClients] == ["93.184.216.34"]


@pytest.mark.parametrize("location", [
    "http://a.test@inside.test/",           # userinfo, then the real host
    "http://a.test:80@inside.test/",
    "//inside.test/",                       # scheme-relative
    "http://inside.test\\@a.test/",         # a backslash ends the host, as in browsers
    "HTTP://INSIDE.TEST:80/",
])
def test_redirect_spellings_reach_the_guard_as_the_host_they_name(location):
    routes = {"http://a.test/": redirect(302, location)}
    _, fetcher, wire, server = memory_client(routes, PUBLIC)
    with pytest.raises(BlockedAddress, match="^blocked: private address$"):
        wire.run(fetcher.fetch("http://a.test/"))
    assert wire.reactor.nameResolver.asked == ["a.test", "inside.test"]
