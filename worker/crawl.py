"""
One task, from lease to stored result: the heart of a worker.

    accept (Redis: take the lease on, count the attempt, reserve the host)
      -> robots.txt (the pool's rules, from Redis)
      -> fetch (treq, bounded)  -> parse (a child process, bounded)
      -> finish (Redis: one atomic step records it all)

Two Redis round trips per page.  A try that failed in a way that may pass
(a timeout, a reset connection, a 503) goes to Redis's delayed set with
exponential backoff (or the server's Retry-After) while attempts remain;
anything else, a page that breaks the parser included, is recorded as a
failed page so that its job still completes.  The last step of a task is
repeated until Redis takes it: a worker that loses Redis keeps its results.
"""

from collections import OrderedDict
from dataclasses import replace

from OpenSSL import SSL
from twisted.internet import error as net_error
from twisted.internet.defer import CancelledError
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web.client import ResponseFailed
from txredisapi import ResponseError

from common.patterns import LinkFilter
from common.retry import RETRY_STATUSES, backoff
from common.safety import BlockedAddress
from common.store import redis_down
from common.urls import host_key, scope_key
from worker.fetch import FetchError, FetchTimeout
from worker.parsing import ParseError, ParseFailed, ParserUnavailable
from worker.robots import header_nofollow
from worker.sitemaps import default_sitemaps

log = Logger()

TRANSIENT = (
    FetchTimeout, net_error.ConnectError, net_error.ConnectionLost,
    net_error.TimeoutError, ResponseFailed, net_error.DNSLookupError,
)
# How often a worker that lost Redis tries its last step again.
STORE_RETRY_SECONDS = (0.2, 5.0)


class _Retry(Exception):
    """The page may succeed if tried again later."""

    def __init__(self, error, retry_after=None, host_wide=False):
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after
        self.host_wide = host_wide


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


class Crawler:
    """Crawl tasks for one worker; holds what its pages share."""

    _SETTINGS_CACHED = 256

    def __init__(self, store, fetcher, parser, robots, sitemaps, config, clock):
        """
        @param sitemaps: the L{worker.sitemaps.SitemapReader} for jobs with
            C{sitemaps: true}.
        """
        self._store = store
        self._fetcher = fetcher
        self._parser = parser
        self._robots = robots
        self._sitemaps = sitemaps
        self._config = config
        self._clock = clock
        self._settings = OrderedDict()

    async def accept(self, task, reserve):
        """
        Take C{task} on as soon as it arrives, in this worker's name (if the
        worker dies, its heartbeat stops and the reaper takes the task back
        at once).  With C{reserve} the worker has a slot free and starts now.

        @return: the L{StartResult} to pass to L{crawl}, or C{None} when the
            task is not this worker's to crawl (job over, page done, lease
            lost, or its host not due: it waits in Redis).
        """
        cached = self._settings.get(task.job)
        started = await self._store.start(
            task, self._config.lease_seconds, cached is None, self._config.worker_id, reserve)
        if not started.go:
            log.debug("not crawling {url}: {reason}", url=task.url, reason=started.reason)
            return None
        if started.settings is None:
            return replace(started, settings=cached)
        return replace(started, settings=self._remember(task.job, started.settings))

    async def crawl(self, task, started, reserved):
        """
        Crawl an accepted C{task}; fire with the number of links admitted,
        or C{None} when it went back to Redis (to wait for its host or a
        retry, or after fetching the host's robots.txt first).

        @param reserved: whether L{accept} reserved the host's fetch start.
        """
        if started.paced and not reserved and await self._store.reserve(task) is not None:
            return None
        if started.robots == "fetch":
            await self._until_stored(self._robots.fetch_for, task)
            return None
        page = {"url": task.url, "depth": task.depth,
                "attempt": started.attempt, "worker": self._config.worker_id}
        if started.tries:
            page["tries"] = list(started.tries)
        began = self._clock.seconds()
        try:
            outcome, found_on, images, links = await self._visit(task, page, started)
        except _Retry as retry:
            await self._until_stored(self._retry, task, started.attempt, retry)
            return None
        except CancelledError:
            raise
        except Exception as e:
            log.failure("crawling {url} failed", url=task.url)
            outcome, found_on, images, links = _failed(
                page, task.url, f"internal error: {type(e).__name__}: {e}"[:500])
        if self._reads_sitemaps(task, started.settings):
            links = links + await self._sitemap_links(task, page, started, began)
        admitted = await self._record(task, outcome, page, images, links, found_on)
        self._log_page(task, outcome, page, began)
        return admitted

    def _log_page(self, task, outcome, page, began):
        log.debug("page {url} {outcome}: status {status}, {images} image(s) in {duration:.3f} s",
                  event="page." + outcome, job=task.job, url=task.url,
                  worker=self._config.worker_id, outcome=outcome, status=page.get("status"),
                  images=page.get("images", 0), depth=task.depth, attempt=page["attempt"],
                  duration=round(self._clock.seconds() - began, 3))

    @staticmethod
    def _reads_sitemaps(task, settings):
        """
        Whether crawling C{task} also reads its site's sitemaps: a start
        URL of a C{sitemaps} job, the first of its site in the job's list
        (so a site is read once a job), when its links may be admitted
        (sitemap URLs come in at depth 1, as the start page's links).
        """
        return (task.depth == 0 and settings.get("sitemaps", False)
                and settings["max_depth"] != 0 and task.url in settings["site_starts"])

    async def _sitemap_links(self, task, page, started, began):
        """
        The in-scope, wanted page URLs of the sitemaps of C{task}'s site,
        noted in C{page}; a sitemap that fails costs only its note.  No
        sitemap fetch starts after half the task's lease has gone, so that
        the last one (within C{FETCH_TIMEOUT}) ends while the lease holds.
        """
        settings = started.settings
        deadline = began + self._config.lease_seconds / 2
        try:
            listed = await self._robots.sitemaps(task.url, started.robots)
            reading = await self._sitemaps.read(
                listed or default_sitemaps(task.url), settings["max_pages"], deadline)
        except CancelledError:
            raise
        except Exception as e:
            log.failure("reading the sitemaps of {url} failed", url=task.url)
            page["sitemaps"] = {"read": 0, "urls": 0, "errors": [describe(e)]}
            return []
        page["sitemaps"] = reading.note()
        return [url for url in reading.urls if self._wanted(url, settings)]

    async def _record(self, task, outcome, page, images, links, found_on):
        """
        The finish step; if Redis refuses it (a script error: a bug, or a
        page whose results Redis cannot take), the page is still settled,
        as failed with the reason, so that its job completes.
        """
        try:
            return await self._until_stored(
                self._store.finish, task, outcome, page, images, links, found_on,
                self._config.max_found_on)
        except ResponseError as e:
            log.failure("recording {url} failed", url=task.url)
            bare = {key: page[key] for key in ("url", "depth", "attempt", "worker")}
            _failed(bare, task.url, f"internal error: could not record the page: {e}"[:500])
            return await self._until_stored(
                self._store.finish, task, "failed", bare, [], [], task.url,
                self._config.max_found_on)

    def _remember(self, job, settings):
        """
        Cache a job's settings, with what its pages share: the scope keys
        of its start URLs, its compiled patterns, and the first start URL
        of each site (L{_reads_sitemaps}).
        """
        scope = settings["scope"]
        settings["keys"] = frozenset(scope_key(url, scope) for url in settings["urls"])
        settings["filter"] = LinkFilter.of(settings.get("include", ()), settings.get("exclude", ()))
        firsts = {}
        for url in settings["urls"]:
            firsts.setdefault(host_key(url), url)
        settings["site_starts"] = frozenset(firsts.values())
        self._settings[job] = settings
        while len(self._settings) > self._SETTINGS_CACHED:
            self._settings.popitem(last=False)
        return settings

    async def _visit(self, task, page, started):
        allowed, why = await self._robots.allowed(task.url, started.robots)
        if not allowed:
            page.update(status="skipped", skipped="robots.txt")
            if why:
                page["reason"] = why
            return "skipped", task.url, [], []
        may_retry = started.attempt < self._config.max_attempts
        try:
            fetched = await self._fetcher.fetch(task.url)
        except (BlockedAddress, FetchError) as e:
            return _failed(page, task.url, str(e))
        except TRANSIENT as e:
            if may_retry and not _bad_certificate(e):
                raise _Retry(describe(e)) from e
            return _failed(page, task.url, describe(e))
        return await self._fetched(fetched, page, started.settings, may_retry)

    async def _fetched(self, fetched, page, settings, may_retry):
        page["status"] = fetched.status
        if fetched.redirects:
            page.update(final_url=fetched.url, redirects=fetched.redirects)
        if fetched.content_type:
            page["content_type"] = fetched.content_type
        if fetched.status in RETRY_STATUSES and may_retry:
            raise _Retry(f"HTTP {fetched.status}", fetched.retry_after,
                         host_wide=fetched.status == 429 or fetched.retry_after is not None)
        if fetched.status >= 400:
            page["error"] = f"HTTP {fetched.status}"
            return "failed", fetched.url, [], []
        if fetched.body is None:
            page["skipped"] = "not HTML"
            return "skipped", fetched.url, [], []
        if fetched.truncated:
            page["truncated"] = True
        try:
            parsed = await self._parser.parse(fetched.body, fetched.content_type, fetched.url)
        except ParserUnavailable as e:
            if may_retry:
                raise _Retry(str(e)) from e
            return _failed(page, fetched.url, str(e))
        except ParseFailed as e:
            return _failed(page, fetched.url, f"parser failed: {e}"[:500])
        except ParseError as e:
            return _failed(page, fetched.url, str(e))
        page.update(images=parsed.image_count, links=parsed.link_count)
        if parsed.capped:
            page["urls_capped"] = self._config.max_urls_per_page
        followed = parsed.links
        if not settings.get("obey_nofollow", True):
            followed = followed + parsed.nofollow
        elif header_nofollow(fetched.robots_tags, self._config.crawl_user_agent):
            followed = []
        links = [link for link in followed if self._wanted(link, settings)]
        return "crawled", fetched.url, parsed.images, links

    def _retry(self, task, attempt, retry):
        """Send the task to Redis's delayed set, after backoff with jitter."""
        config = self._config
        wait = backoff(attempt, config.retry_base_seconds, config.retry_max_seconds, retry.retry_after)
        now = self._clock.seconds()
        log.info("{url}: {error}; try {n} of {max} in {wait:.1f} s", event="page.retry",
                 job=task.job, url=task.url, error=retry.error, n=attempt + 1,
                 max=config.max_attempts, wait=wait)
        outcome = {"attempt": attempt, "error": retry.error, "retry_in": round(wait, 3)}
        return self._store.retry(task, now + wait, now + wait if retry.host_wide else None, outcome)

    async def hand_back(self, task, attempted):
        """Give a task back untried, repeating until Redis takes it."""
        return await self._until_stored(self._store.release, task, attempted)

    async def _until_stored(self, step, *args):
        """
        Run a task's last step until Redis takes it: while Redis restarts,
        the worker keeps the results and tries again (the steps are
        idempotent), rather than leave the task leased to itself.
        """
        pause, longest = STORE_RETRY_SECONDS
        while True:
            try:
                return await step(*args)
            except Exception as e:
                if not redis_down(e):
                    raise
                log.warn("could not record {url} ({e}); trying again in {s} s",
                         url=args[0].url, e=e, s=pause)
            await deferLater(self._clock, pause)
            pause = min(longest, 2 * pause)

    @staticmethod
    def _wanted(link, settings):
        """In the job's scope, and admitted by its include/exclude patterns."""
        return (scope_key(link, settings["scope"]) in settings["keys"]
                and settings["filter"].admits(link))

