"""
One task, from lease to stored result: the heart of a worker.

    start (Redis: renew lease, count attempt, job still live?)
      -> fetch (treq, bounded)  -> extract (bs4, pure)
      -> finish (Redis: one atomic step records it all)

Two Redis round trips per page.  A failure that may pass (a timeout, a
reset connection, a 503) gives the task back to the reaper while attempts
remain; anything else, including a page that breaks the parser, is
recorded as a failed page so that its job still completes.
"""

from collections import OrderedDict
from dataclasses import replace
from itertools import islice

from OpenSSL import SSL
from twisted.internet import error as net_error
from twisted.internet.defer import DeferredSemaphore
from twisted.logger import Logger
from twisted.web.client import ResponseFailed

from common.urls import scope_key
from worker.extract import decode_html, extract
from worker.fetch import FetchError, FetchTimeout
from worker.safety import BlockedAddress

log = Logger()

RETRY_STATUSES = frozenset((408, 429, 500, 502, 503, 504, 522, 524))
_TRANSIENT = (
    FetchTimeout, net_error.ConnectError, net_error.ConnectionLost,
    net_error.TimeoutError, ResponseFailed, net_error.DNSLookupError,
)


class _Retry(Exception):
    """The page may succeed if tried again later."""


def _bad_certificate(error):
    """A TLS failure: the site will present the same certificate next time."""
    return isinstance(error, ResponseFailed) and any(r.check(SSL.Error) for r in error.reasons)


def describe(error):
    """A short, human reason for a fetch that did not produce a response."""
    if isinstance(error, ResponseFailed):
        reasons = ", ".join(r.getErrorMessage() or r.type.__name__ for r in error.reasons)
        return f"response failed: {reasons}"[:500]
    return (str(error) or type(error).__name__)[:500]


def _failed(page, found_on, reason):
    """The outcome of a page that produced no response or no parse."""
    page.update(status="error", error=reason)
    return "failed", found_on, [], []


class _HostSlots:
    """At most C{per_host} fetches in flight to one host: politeness."""

    def __init__(self, per_host):
        self._per_host = per_host
        self._slots = {}

    async def run(self, host, work):
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = DeferredSemaphore(self._per_host)
        try:
            return await slot.run(work)
        finally:
            if slot.tokens == self._per_host and not slot.waiting:
                self._slots.pop(host, None)


class Crawler:
    """Crawl tasks for one worker; holds what its pages share."""

    _SETTINGS_CACHED = 256

    def __init__(self, store, fetcher, config, robots=None):
        self._store = store
        self._fetcher = fetcher
        self._config = config
        self._robots = robots
        self._hosts = _HostSlots(config.per_host_concurrency)
        self._settings = OrderedDict()

    async def accept(self, task):
        """
        Take C{task} on as soon as it arrives: renew its lease in this
        worker's name (if this worker dies, its heartbeat stops and the
        reaper takes the task back at once) and count the attempt.

        @return: the L{StartResult} to pass to L{crawl}, or C{None} when the
            task is to be dropped (job over, page done).
        """
        cached = self._settings.get(task.job)
        started = await self._store.start(
            task, self._config.lease_seconds, cached is None, self._config.worker_id)
        if not started.go:
            log.debug("dropped {url}: {reason}", url=task.url, reason=started.reason)
            return None
        if started.settings is None:
            return replace(started, settings=cached)
        return replace(started, settings=self._remember(task.job, started.settings))

    async def crawl(self, task, started):
        """
        Crawl an accepted C{task}; fire with the number of links admitted,
        or C{None} when it was handed back for a retry.
        """
        settings = started.settings
        page = {"url": task.url, "depth": task.depth,
                "attempt": started.attempt, "worker": self._config.worker_id}
        try:
            outcome, found_on, images, links = await self._visit(task, page, settings, started.attempt)
        except _Retry:
            await self._store.release(task)
            return None
        return await self._store.finish(
            task, outcome, page, images, links, found_on, self._config.max_found_on)

    def _remember(self, job, settings):
        """Cache a job's settings, with the scope keys of its start URLs."""
        scope = settings["scope"]
        settings["keys"] = frozenset(scope_key(url, scope) for url in settings["urls"])
        self._settings[job] = settings
        while len(self._settings) > self._SETTINGS_CACHED:
            self._settings.popitem(last=False)
        return settings

    async def _visit(self, task, page, settings, attempt):
        if self._robots is not None and not await self._robots.allowed(task.url):
            page.update(status="skipped", skipped="robots.txt")
            return "skipped", task.url, [], []
        may_retry = attempt < self._config.max_attempts
        host = task.url.split("/", 3)[2]
        try:
            fetched = await self._hosts.run(host, lambda: self._fetcher.fetch(task.url))
        except (BlockedAddress, FetchError) as e:
            return _failed(page, task.url, str(e))
        except _TRANSIENT as e:
            if may_retry and not _bad_certificate(e):
                raise _Retry() from e
            return _failed(page, task.url, describe(e))
        page["status"] = fetched.status
        if fetched.redirects:
            page.update(final_url=fetched.url, redirects=fetched.redirects)
        if fetched.content_type:
            page["content_type"] = fetched.content_type
        if fetched.status in RETRY_STATUSES and may_retry:
            raise _Retry()
        if fetched.status >= 400:
            page["error"] = f"HTTP {fetched.status}"
            return "failed", fetched.url, [], []
        if fetched.body is None:
            page["skipped"] = "not HTML"
            return "skipped", fetched.url, [], []
        return self._parse(fetched, page, settings)

    def _parse(self, fetched, page, settings):
        if fetched.truncated:
            page["truncated"] = True
        try:
            found = extract(decode_html(fetched.body, fetched.content_type), fetched.url)
        except Exception as e:
            log.failure("parser failed on {url}", url=fetched.url)
            return _failed(page, fetched.url, f"parser failed: {type(e).__name__}: {e}"[:500])
        cap = self._config.max_urls_per_page
        images = [
            [url, list(image.kinds), image.alt] if image.alt else [url, list(image.kinds)]
            for url, image in islice(found.images.items(), cap)
        ]
        links = [link for link in found.links if self._wanted(link, settings)][:cap]
        page.update(images=len(found.images), links=len(found.links))
        if len(found.images) > cap or len(found.links) > cap:
            page["urls_capped"] = cap
        return "crawled", fetched.url, images, links

    @staticmethod
    def _wanted(link, settings):
        return scope_key(link, settings["scope"]) in settings["keys"]
