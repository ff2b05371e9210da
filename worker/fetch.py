"""
Fetch one page through a shared HTTP client, within bounds.

Redirects are followed here rather than by treq so that every hop is
recorded, counted against C{MAX_REDIRECTS}, and re-checked by the address
rules in L{common.safety} (they sit under the client, on every connection).
Bodies are read only when they are HTML, and only up to C{MAX_BODY_BYTES}
after decompression (treq's client decodes gzip), so a gzip bomb or an
endless stream costs at most that much memory.

The client is a parameter: L{make_client} builds the production one, one
connection pool for every page of every job; tests pass treq's in-memory
client.  Because the client is shared, it keeps no cookies; the few a
redirect chain needs live in the fetch itself (L{_HopCookies}).

What is requested is L{request_url} of a normalised URL, handed to treq as
it is (L{_AsSent}): the normaliser has already encoded it, as browsers do.
"""

import re
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from hyperlink import EncodedURL
from treq.client import HTTPClient
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.web.client import HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers

from common.safety import guarded_agent
from common.urls import normalize
from worker.decoding import is_html

REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))
# A redirect's or an error page's own body is never parsed; a little of it
# is read so that the connection can go back to the pool.
_SMALL_BODY = 64 * 1024
# is_html() of a body that looks like HTML is false only when the declared
# type rules HTML out; any other type is worth reading, then sniffing.
_HTML_PROBE = b"<html>"
_AUTHORITY_END = re.compile(r"[/?#]|$")


class FetchError(Exception):
    """A page could not be fetched; the message is what the user sees."""


class TooManyRedirects(FetchError):
    """A redirect chain longer than allowed (robots.txt treats it apart)."""


class FetchTimeout(Exception):
    """The whole fetch, redirects and body included, took too long."""


@dataclass
class Fetched:
    url: str                       # the final URL, after redirects
    status: int
    content_type: str | None
    body: bytes | None             # None when the body is not HTML
    truncated: bool = False
    redirects: list = field(default_factory=list)
    retry_after: float | None = None   # seconds the server asked us to wait
    robots_tags: tuple = ()        # the X-Robots-Tag header values (worker.robots.header_nofollow)


class NoCookies(CookieJar):
    """
    A cookie jar that never keeps a cookie.

    The production client serves every page of every job: a cookie one
    page's server set must not ride along with another page's request.
    Every way into a L{CookieJar} (the server's I{Set-Cookie}, treq's
    C{cookies=} argument, which therefore has no effect) ends in
    C{set_cookie}, so dropping it there keeps the jar empty whatever the
    client does.
    """

    def set_cookie(self, cookie):
        pass


class PooledClient(HTTPClient):
    """treq's client over the guarded, persistent pool that L{make_client} builds."""

    def __init__(self, agent, pool):
        super().__init__(agent, cookiejar=NoCookies())
        self._pool = pool

    def close(self):
        """Hang up the idle kept-alive connections, so that a stopping worker
        leaves no sockets behind.  Returns a L{Deferred}."""
        return self._pool.closeCachedConnections()


def make_client(reactor, config):
    """
    The client the worker fetches with: one persistent pool, every
    connection (hence every redirect hop) checked by L{common.safety.guarded_agent}.
    """
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = config.max_host_concurrency
    pool.cachedConnectionTimeout = 30
    return PooledClient(guarded_agent(reactor, config, pool, config.fetch_timeout), pool)


def request_url(url):
    """
    What is asked for when fetching C{url} (an output of
    L{common.urls.normalize}): the URL as bytes, without its userinfo.

    Credentials in a URL are not sent: a link on someone's page would carry
    them to whatever host it names.  Nor may they reach the HTTP client,
    whose URI parser takes C{http://example.com@10.0.0.1/} for the host
    C{example.com@10.0.0.1}, where the URL standard says C{10.0.0.1}.
    """
    scheme, _, rest = url.partition("://")
    end = _AUTHORITY_END.search(rest).start()
    host = rest[:end].rpartition("@")[2]
    return f"{scheme}://{host}{rest[end:]}".encode("ascii")


class _AsSent(EncodedURL):
    """
    A URL that treq sends exactly as it is.

    treq re-encodes every URL it is given (C{to_uri().to_text()}), with an
    IDNA encoder stricter than browsers: it raises for IPv6 literals, for
    "_" or "!" in a label, for symbol labels such as C{xn--n3h}, all of
    which the normaliser admits because browsers do; and it re-quotes the
    path ("[" becomes "%5B"), so that the page fetched would not be the URL
    recorded.  A normalised URL is ASCII and encoded already.
    """

    @classmethod
    def of(cls, url):
        """The request for normalised C{url} (see L{request_url})."""
        text = request_url(url).decode("ascii")
        sent = cls.from_text(text)
        sent._text = text
        return sent

    def to_uri(self):
        return self

    def to_text(self, with_password=False):
        return self._text


def retry_after(value, now, cap):
    """
    A I{Retry-After} value (RFC 9110 section 10.2.3) as seconds from C{now}.

    Either delta-seconds or an HTTP-date (all three of its formats, which
    the stdlib parser reads); a date in the past means "now".  The result
    is capped at C{cap} so that a server cannot park a page for a week.

    @return: a float in C{[0, cap]}, or C{None} if C{value} is absent or
        unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), cap)
    try:
        when = parsedate_to_datetime(value)
    except ValueError:
        return None
    if when.tzinfo is None:         # asctime() dates carry no zone; HTTP means GMT
        when = when.replace(tzinfo=timezone.utc)
    return min(max(when.timestamp() - now, 0.0), cap)


class _HopCookies:
    """
    The cookies set along one fetch's redirect chain.

    Some sites answer a first visit with a cookie and a redirect, and serve
    the page only when the cookie comes back.  They are kept for the rest
    of the chain only, and sent only to the host that set them (no Domain,
    Path or expiry rules: host-only cookies, with I{Secure} honoured).  A
    line with a flag attribute that L{SimpleCookie} does not know is
    dropped whole: the stdlib parser's limit, and only a lost cookie.
    """

    def __init__(self):
        self._by_host = {}          # host -> {name: (raw value, secure)}

    def remember(self, url, response):
        host = urlsplit(url).hostname
        for line in response.headers.getRawHeaders(b"set-cookie", []):
            parsed = SimpleCookie()
            try:
                parsed.load(line.decode("latin-1"))
            except CookieError:
                continue
            # The first pair is the cookie; what follows is attributes,
            # which SimpleCookie would take for more cookies if unknown.
            morsel = next(iter(parsed.values()), None)
            if morsel is not None:
                self._by_host.setdefault(host, {})[morsel.key] = (
                    morsel.coded_value, bool(morsel["secure"]))

    def header(self, url):
        """The I{Cookie} header value for a request to C{url}, or C{None}."""
        parts = urlsplit(url)
        pairs = [
            f"{name}={value}"
            for name, (value, secure) in self._by_host.get(parts.hostname, {}).items()
            if parts.scheme == "https" or not secure
        ]
        return "; ".join(pairs) or None


class _Capped(Protocol):
    """Collect a response body up to a byte limit, then hang up."""

    def __init__(self, limit):
        self._limit = limit
        self._parts = []
        self._size = 0
        self.truncated = False
        self.done = Deferred(canceller=self._abort)

    def _abort(self, _):
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data):
        room = self._limit - self._size
        if len(data) >= room:
            self._parts.append(data[:room])
            self._size = self._limit
            self.truncated = len(data) > room
            if self.truncated:
                self.transport.stopProducing()
                self._finish()
            return
        self._parts.append(data)
        self._size += len(data)

    def connectionLost(self, reason):
        if reason.check(ResponseDone, PotentialDataLoss) or self.truncated:
            self._finish()
        elif not self.done.called:
            self.done.errback(reason)

    def _finish(self):
        if not self.done.called:
            self.done.callback(b"".join(self._parts))


def read_capped(response, limit):
    """Fire with C{(body, truncated)}, reading at most C{limit} bytes."""
    collector = _Capped(limit)
    response.deliverBody(collector)
    return collector.done.addCallback(lambda body: (body, collector.truncated))


class Fetcher:
    """
    Fetch pages with C{client} (treq's L{HTTPClient} API), timing each
    whole fetch on C{clock} (an C{IReactorTime}).
    """

    def __init__(self, client, clock, config):
        self._client = client
        self._clock = clock
        self._config = config
        self._headers = Headers({
            "User-Agent": [config.crawl_user_agent],
            "Accept": ["text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"],
            "Accept-Language": ["*"],
        })

    def fetch(self, url, any_type=False, limit=None, max_redirects=None):
        """
        Fetch C{url}, giving up after C{FETCH_TIMEOUT} seconds in all.

        @param any_type: read the body whatever its type (robots.txt), not
            only when it is HTML.
        @param limit: read at most this many bytes (default C{MAX_BODY_BYTES}).
        @param max_redirects: follow at most this many redirects (default
            C{MAX_REDIRECTS}; robots.txt follows 5, as RFC 9309 asks).

        @return: a L{Deferred} firing with L{Fetched}, or failing with
            L{FetchError}, L{FetchTimeout} or a connection error.
        """
        if max_redirects is None:
            max_redirects = self._config.max_redirects
        d = Deferred.fromCoroutine(self._follow(
            url, any_type, limit or self._config.max_body_bytes, max_redirects))
        return d.addTimeout(self._config.fetch_timeout, self._clock, onTimeoutCancel=_timed_out)

    async def _follow(self, url, any_type, limit, max_redirects):
        cookies = _HopCookies()
        redirects = []
        while True:
            response = await self._client.request(
                "GET", _AsSent.of(url), headers=self._headers_for(url, cookies),
                allow_redirects=False, unbuffered=True)
            cookies.remember(url, response)
            location = _header(response, b"location")
            if response.code not in REDIRECT_CODES or not location:
                return await self._page(url, response, redirects, any_type, limit)
            await read_capped(response, _SMALL_BODY)
            target = normalize(location, url)
            if target is None:
                raise FetchError(f"redirect to an unusable location {location[:200]!r}")
            redirects.append({"status": response.code, "url": target})
            if len(redirects) > max_redirects:
                raise TooManyRedirects(f"more than {max_redirects} redirects")
            url = target

    def _headers_for(self, url, cookies):
        headers = self._headers.copy()
        cookie = cookies.header(url)
        if cookie is not None:
            headers.setRawHeaders(b"cookie", [cookie.encode("latin-1")])
        return headers

    async def _page(self, url, response, redirects, any_type, limit):
        content_type = _header(response, b"content-type")
        wait = retry_after(_header(response, b"retry-after"), self._clock.seconds(),
                           self._config.max_retry_after)
        tags = tuple(v.decode("latin-1") for v in response.headers.getRawHeaders(b"x-robots-tag", []))
        page = Fetched(url, response.code, content_type, None,
                       redirects=redirects, retry_after=wait, robots_tags=tags)
        if response.code >= 400:
            await read_capped(response, _SMALL_BODY)
            return page
        if not any_type and not is_html(content_type, _HTML_PROBE):
            response.deliverBody(_Discard())
            return page
        body, page.truncated = await read_capped(response, limit)
        if any_type or is_html(content_type, body):
            page.body = body
        return page


def _header(response, name):
    """The first C{name} header of C{response} as text, or C{None}."""
    value = response.headers.getRawHeaders(name, [None])[0]
    return None if value is None else value.decode("latin-1")


def _timed_out(result, timeout):
    raise FetchTimeout(f"timed out after {timeout:g} s")


class _Discard(Protocol):
    """Hang up on a body we will not read (an image, a PDF, a video)."""

    def connectionMade(self):
        self.transport.stopProducing()
