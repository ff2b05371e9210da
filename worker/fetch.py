"""
Fetch one page over a shared, persistent connection pool, within bounds.

Redirects are followed here rather than by treq so that every hop is
recorded, counted against C{MAX_REDIRECTS}, and re-checked by the address
rules in L{worker.safety}.  Bodies are read only when they are HTML, and
only up to C{MAX_BODY_BYTES} after decompression, so a gzip bomb or an
endless stream costs at most that much memory.
"""

from dataclasses import dataclass, field

from treq.client import HTTPClient
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.web.client import (
    Agent, ContentDecoderAgent, GzipDecoder, HTTPConnectionPool, ResponseDone,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers

from common.urls import normalize
from worker.extract import is_html
from worker.safety import CheckedEndpointFactory

REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))
# A redirect's or an error page's own body is never parsed; a little of it
# is read so that the connection can go back to the pool.
_SMALL_BODY = 64 * 1024


class FetchError(Exception):
    """A page could not be fetched; the message is what the user sees."""


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
    def __init__(self, reactor, config):
        self._reactor = reactor
        self._config = config
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = config.per_host_concurrency
        pool.cachedConnectionTimeout = 30
        self._pool = pool
        agent = Agent.usingEndpointFactory(
            reactor,
            CheckedEndpointFactory(reactor, config.allow_private_networks, config.fetch_timeout),
            pool=pool,
        )
        self._agent = ContentDecoderAgent(agent, [(b"gzip", GzipDecoder)])
        self._headers = Headers({
            "User-Agent": [config.crawl_user_agent],
            "Accept": ["text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"],
            "Accept-Language": ["*"],
        })

    def fetch(self, url, any_type=False, limit=None):
        """
        Fetch C{url}, giving up after C{FETCH_TIMEOUT} seconds in all.

        @param any_type: read the body whatever its type (robots.txt), not
            only when it is HTML.
        @param limit: read at most this many bytes (default C{MAX_BODY_BYTES}).

        @return: a L{Deferred} firing with L{Fetched}, or failing with
            L{FetchError}, L{FetchTimeout} or a connection error.
        """
        d = Deferred.fromCoroutine(self._follow(url, any_type, limit or self._config.max_body_bytes))
        return d.addTimeout(self._config.fetch_timeout, self._reactor, onTimeoutCancel=_timed_out)

    async def _follow(self, url, any_type, limit):
        # A fresh cookie jar per page: cookies set on a redirect hop are
        # sent on the next hop, and nothing accumulates across pages.
        client = HTTPClient(self._agent)
        redirects = []
        while True:
            response = await client.get(
                url, headers=self._headers, allow_redirects=False, unbuffered=True)
            location = response.headers.getRawHeaders(b"location", [b""])[0]
            if response.code not in REDIRECT_CODES or not location:
                return await self._page(url, response, redirects, any_type, limit)
            await read_capped(response, _SMALL_BODY)
            target = normalize(location.decode("latin-1"), url)
            if target is None:
                raise FetchError(f"redirect to an unusable location {location[:200]!r}")
            redirects.append({"status": response.code, "url": target})
            if len(redirects) > self._config.max_redirects:
                raise FetchError(f"more than {self._config.max_redirects} redirects")
            url = target

    async def _page(self, url, response, redirects, any_type, limit):
        content_type = response.headers.getRawHeaders(b"content-type", [None])[0]
        if content_type is not None:
            content_type = content_type.decode("latin-1")
        if response.code >= 400:
            await read_capped(response, _SMALL_BODY)
            return Fetched(url, response.code, content_type, None, redirects=redirects)
        if not any_type and content_type is not None and not is_html(content_type, b""):
            response.deliverBody(_Discard())
            return Fetched(url, response.code, content_type, None, redirects=redirects)
        body, truncated = await read_capped(response, limit)
        if not any_type and content_type is None and not is_html(None, body):
            body = None
        return Fetched(url, response.code, content_type, body, truncated, redirects)

    def close(self):
        return self._pool.closeCachedConnections()


def _timed_out(result, timeout):
    raise FetchTimeout(f"timed out after {timeout:g} s")


class _Discard(Protocol):
    """Hang up on a body we will not read (an image, a PDF, a video)."""

    def connectionMade(self):
        self.transport.stopProducing()
