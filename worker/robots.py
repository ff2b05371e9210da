"""
robots.txt, obeyed by default, as a crawler on the public web must.

Each worker fetches a site's robots.txt once (through the same bounded,
address-checked fetcher as pages), parses it with Protego, and keeps the
rules of the most recent origins for an hour.  Concurrent pages of a site
wait for the one fetch in flight.  Following Scrapy rather than the letter
of RFC 9309, a robots.txt that cannot be fetched (timeout, 5xx, refused)
allows everything, for a shorter while: a flaky robots.txt must not empty a
user's crawl.
"""

from collections import OrderedDict

from protego import Protego
from twisted.internet.defer import Deferred
from twisted.logger import Logger

log = Logger()

ROBOTS_BYTES = 512 * 1024   # RFC 9309 asks parsers to read at least 500 KiB
KEEP_SECONDS = 3600
KEEP_FAILURE_SECONDS = 300
_ALLOW_ALL = Protego.parse("")


def origin(url):
    """C{http://host:port} of a normalised URL."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def rules_from(status, body):
    """The rules a robots.txt response gives: 2xx parsed, anything else allows all."""
    if status is None or not 200 <= status < 300 or body is None:
        return _ALLOW_ALL
    return Protego.parse(body.decode("utf-8", "replace"))


class Robots:
    def __init__(self, fetcher, user_agent, clock, max_origins=1024):
        self._fetcher = fetcher
        self._agent = user_agent
        self._clock = clock
        self._max_origins = max_origins
        self._known = OrderedDict()     # origin -> (rules, good until)
        self._pending = {}              # origin -> [Deferred] waiting for the fetch

    async def allowed(self, url):
        rules = await self._rules(origin(url))
        return rules.can_fetch(url, self._agent)

    async def _rules(self, site):
        known = self._known.get(site)
        if known is not None and known[1] > self._clock.seconds():
            return known[0]
        if site in self._pending:
            waiter = Deferred()
            self._pending[site].append(waiter)
            return await waiter
        self._pending[site] = []
        rules, keep = await self._fetch(site)
        self._remember(site, rules, keep)
        for waiter in self._pending.pop(site):
            waiter.callback(rules)
        return rules

    async def _fetch(self, site):
        try:
            fetched = await self._fetcher.fetch(f"{site}/robots.txt", any_type=True, limit=ROBOTS_BYTES)
        except Exception as e:
            log.info("no robots.txt from {site} ({e}): allowing all for now", site=site, e=e)
            return _ALLOW_ALL, KEEP_FAILURE_SECONDS
        if fetched.status >= 500:
            return _ALLOW_ALL, KEEP_FAILURE_SECONDS
        return rules_from(fetched.status, fetched.body), KEEP_SECONDS

    def _remember(self, site, rules, keep):
        self._known[site] = (rules, self._clock.seconds() + keep)
        self._known.move_to_end(site)
        while len(self._known) > self._max_origins:
            self._known.popitem(last=False)
