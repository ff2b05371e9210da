"""
robots.txt, obeyed by the pool as one crawler (RFC 9309).

Redis decides who fetches a host's robots.txt (C{lua/lease.lua} gives one
task of the host that duty, and holds the host's other tasks until the
answer is in); that worker fetches it through the same address-checked
fetcher as pages (at most 5 redirects, the first 500 KiB), and records the
outcome for every worker (C{lua/robots.lua}).  Following RFC 9309: a 2xx
gives the rules, a 4xx allows everything, and a 5xx or an unreachable
server disallows for now: the host's pages wait and robots.txt is tried
again later, until after C{MAX_ATTEMPTS} failures its pages are skipped
for a while.  Other workers parse the stored text once per version, with
Protego, and keep the parsed rules of recent hosts.
"""

from collections import OrderedDict

from protego import Protego
from twisted.logger import Logger

from common.safety import BlockedAddress
from common.urls import host_key, normalize
from worker.fetch import TooManyRedirects

log = Logger()

ROBOTS_BYTES = 500 * 1024           # RFC 9309 2.5: parse at least 500 KiB
ROBOTS_REDIRECTS = 5                # RFC 9309 2.3.1.2: follow at least five
KEEP_SECONDS = 3600                 # rules are fetched again after an hour
KEEP_DENIED_SECONDS = 600           # a host whose robots.txt stays unreachable
_ALLOW_ALL = Protego.parse("")


def outcome_of(status, body):
    """C{(outcome, text)} for a robots.txt response, as lua/robots.lua takes it."""
    if 200 <= status < 300:
        return "rules", (body or b"").decode("utf-8", "replace")
    if 400 <= status < 500:
        return "allow", ""
    return "fail", ""


# X-Robots-Tag directives whose value holds a colon: not a crawler's name.
_VALUED_DIRECTIVES = frozenset({
    "unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_NOFOLLOW = frozenset({"nofollow", "none"})


def header_nofollow(values, agent):
    """
    Whether a page's C{X-Robots-Tag} headers ask C{agent} not to follow its
    links, as its robots meta may: C{nofollow} or C{none}, said to every
    crawler, or after a crawler's name (C{otherbot: nofollow}) to this one,
    known by the product token of C{agent} (C{ImageCrawler/1.0 ...}).
    """
    product = agent.split("/", 1)[0].strip().lower()
    for value in values:
        name, colon, rest = value.partition(":")
        name = name.strip().lower()
        if colon and name not in _VALUED_DIRECTIVES and not any(c in name for c in " ,"):
            if name != product:
                continue
            value = rest
        if not _NOFOLLOW.isdisjoint(d.strip().lower() for d in value.split(",")):
            return True
    return False


def crawl_delay(text, agent, cap):
    """The Crawl-delay the rules ask of C{agent}, at most C{cap} seconds."""
    delay = Protego.parse(text).crawl_delay(agent) if text else None
    return min(float(delay or 0), cap)


class PoolRobots:
    def __init__(self, store, fetcher, config, clock, max_hosts=1024):
        self._store = store
        self._fetcher = fetcher
        self._config = config
        self._clock = clock
        self._agent = config.crawl_user_agent
        self._max_hosts = max_hosts
        self._parsed = OrderedDict()      # (host, version) -> Protego

    async def fetch_for(self, task):
        """Fetch the robots.txt of C{task}'s host for the pool and record it."""
        host = host_key(task.url)
        started = self._clock.seconds()
        outcome, text, note = await self._fetch(host)
        if outcome == "fail":
            log.info("robots.txt of {host} unreachable ({note}): its pages wait", host=host, note=note)
        delay = crawl_delay(text, self._agent, self._config.max_crawl_delay)
        keep = KEEP_DENIED_SECONDS if outcome == "fail" else KEEP_SECONDS
        return await self._store.store_robots(
            task, outcome, text, delay, keep, note, started,
            self._config.max_attempts, self._config.retry_base_seconds)

    async def _fetch(self, host):
        try:
            fetched = await self._fetcher.fetch(
                f"{host}/robots.txt", any_type=True, limit=ROBOTS_BYTES,
                max_redirects=ROBOTS_REDIRECTS)
        except BlockedAddress:
            # The pages will be refused with the reason; no rules needed.
            return "allow", "", ""
        except TooManyRedirects:
            # RFC 9309 2.3.1.2: past five redirects, robots.txt MAY be
            # taken as unavailable, which allows everything.
            return "allow", "", ""
        except Exception as e:
            return "fail", "", f"robots.txt unreachable: {str(e) or type(e).__name__}"[:300]
        outcome, text = outcome_of(fetched.status, fetched.body)
        return outcome, text, f"robots.txt unreachable: HTTP {fetched.status}"

    async def allowed(self, url, answer):
        """
        Whether C{url} may be fetched, given its start step's robots answer
        (C{lua/start.lua}), and why not: C{(bool, reason or "")}.
        """
        if not answer or answer == "allow":
            return True, ""
        if answer.startswith("deny"):
            return False, answer[5:]
        version = answer.partition(" ")[2]
        rules = await self._rules(host_key(url), version)
        return rules.can_fetch(url, self._agent), ""

    async def sitemaps(self, url, answer):
        """
        The C{Sitemap:} URLs of the robots.txt of C{url}'s host, given its
        start step's robots answer: the pool's rules when the job obeys
        robots.txt; when it does not (C{answer} empty), robots.txt is
        fetched for its Sitemap lines alone.  Other answers (allow, deny)
        mean there are no rules to read: an empty list.
        """
        host = host_key(url)
        if answer.startswith("rules"):
            rules = await self._rules(host, answer.partition(" ")[2])
        elif not answer:
            outcome, text, _ = await self._fetch(host)
            rules = Protego.parse(text) if outcome == "rules" else _ALLOW_ALL
        else:
            return []
        found = (normalize(line, f"{host}/robots.txt") for line in rules.sitemaps)
        return [sitemap for sitemap in found if sitemap is not None]

    async def _rules(self, host, version):
        rules = self._parsed.get((host, version))
        if rules is not None:
            self._parsed.move_to_end((host, version))
            return rules
        text = await self._store.robots_rules(host)
        rules = Protego.parse(text) if text else _ALLOW_ALL
        self._parsed[(host, version)] = rules
        while len(self._parsed) > self._max_hosts:
            self._parsed.popitem(last=False)
        return rules
