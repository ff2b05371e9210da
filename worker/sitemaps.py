"""
Sitemaps (sitemaps.org): more start points for a job with C{sitemaps: true}.

A site's sitemaps are the C{Sitemap:} lines of its robots.txt, else
C{/sitemap.xml}.  A sitemap is a C{<urlset>} of page URLs or a
C{<sitemapindex>} of more sitemaps; either may be gzipped (known by its
magic bytes: a C{.gz} URL served with C{Content-Encoding: gzip} arrives
already decoded).  Everything about them is bounded, since a site (or
whoever a robots.txt points at) chooses what they hold:

  - files read per site (C{SITEMAPS_PER_SITE}), and index nesting
    (L{MAX_INDEX_DEPTH});
  - bytes per file, compressed and after decompression
    (C{SITEMAP_MAX_BYTES}): inflating stops at the cap, so a gzip bomb
    costs at most that much memory;
  - URLs (C{SITEMAP_MAX_URLS}, and no more than the job's C{max_pages},
    which is all it could admit).

XML is parsed by defusedxml with no DTD at all: no entity expansion
(billion laughs), no external entities or DTDs (the parser never fetches
or reads a file).  Parsing runs off the reactor thread, so a 10 MiB sitemap
does not hold up heartbeats.

The parsing functions are pure; L{SitemapReader} does the fetching,
through the worker's L{worker.fetch.Fetcher} (address guard, redirects,
timeout), each fetch keeping the host's delay as the pool's pages do, and
a sitemap that fails costs only a line in the start page's record.
"""

import io
import zlib
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from twisted.internet.defer import CancelledError, maybeDeferred
from twisted.internet.task import deferLater

from common.urls import host_key, normalize

GZIP_MAGIC = b"\x1f\x8b"
# robots.txt -> index -> index -> urlset: the protocol has indexes list only
# sitemaps; one more level is allowed for sites that nest them anyway.
MAX_INDEX_DEPTH = 2
_NAMESPACE = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_ROOTS = {"urlset": "url", "sitemapindex": "sitemap"}
_SHOWN_ERROR = 300


class SitemapError(ValueError):
    """A sitemap that cannot be read; the message says why."""


def inflated(data, cap):
    """
    C{data}, decompressed if it is gzip, and at most C{cap} bytes.

    @raise SitemapError: when it is (or inflates to) more than C{cap}
        bytes, or is broken gzip.
    """
    if not data.startswith(GZIP_MAGIC):
        if len(data) > cap:
            raise SitemapError(f"over {cap} bytes")
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as e:
        raise SitemapError(f"broken gzip: {e}") from None
    if len(out) > cap:
        raise SitemapError(f"over {cap} bytes after decompression")
    return out


def _local(tag):
    """C{loc} for C{{sitemap namespace}loc} or C{loc}; None for other namespaces
    (an image sitemap's C{<image:loc>} is not a page)."""
    if tag.startswith(_NAMESPACE):
        return tag[len(_NAMESPACE):]
    return None if tag.startswith("{") else tag


def parse(data, max_locs):
    """
    C{(kind, locs)} of sitemap XML C{data}: C{"urlset"} or C{"sitemapindex"},
    and the first C{max_locs} C{<loc>} texts of its entries, as written.

    @raise SitemapError: malformed XML, a DTD or entity, or another root.
    """
    kind, locs, path = None, [], []
    try:
        for event, element in iterparse(io.BytesIO(data), ("start", "end"), forbid_dtd=True):
            name = _local(element.tag)
            if event == "start":
                path.append(name)
                if kind is None:
                    if name not in _ROOTS:
                        raise SitemapError(f"not a sitemap: the root is <{element.tag}>")
                    kind = name
                continue
            path.pop()
            if name == "loc" and path == [kind, _ROOTS[kind]]:
                locs.append((element.text or "").strip())
                if len(locs) >= max_locs:
                    break
            elif name == _ROOTS[kind]:
                element.clear()     # memory stays flat over a large file
    except ParseError as e:
        raise SitemapError(f"malformed XML: {e}") from None
    except DefusedXmlException as e:
        raise SitemapError(f"refused XML ({type(e).__name__}): no DTD or entities") from None
    if kind is None:
        raise SitemapError("empty document")
    return kind, locs


def read_body(data, cap, max_locs):
    """L{parse} of L{inflated} C{data}, with every loc normalised:
    C{(kind, urls)}, dropping what is not an http(s) URL."""
    kind, locs = parse(inflated(data, cap), max_locs)
    return kind, [url for url in map(normalize, locs) if url is not None]


def default_sitemaps(url):
    """Where a site without C{Sitemap:} lines keeps its sitemap."""
    return [host_key(url) + "/sitemap.xml"]


@dataclass
class Reading:
    """What reading one site's sitemaps gave: page URLs, and the note for
    the start page's record."""

    urls: list = field(default_factory=list)
    read: int = 0
    errors: list = field(default_factory=list)

    def note(self):
        return {"read": self.read, "urls": len(self.urls), "errors": self.errors}


class SitemapReader:
    """
    Read a site's sitemaps with C{fetcher}, each fetch keeping its host's
    delay through C{store} (L{common.store.JobStore.pace}, on C{clock});
    C{run(f, *args)} runs a parse off the reactor thread
    (C{deferToThreadPool}) and returns a Deferred.
    """

    def __init__(self, fetcher, store, clock, config, run):
        self._fetcher = fetcher
        self._store = store
        self._clock = clock
        self._config = config
        self._run = run

    async def read(self, sitemaps, want, deadline):
        """
        The page URLs of C{sitemaps} (their indexes followed, breadth
        first), at most C{want} of them (and C{SITEMAP_MAX_URLS}).  No
        fetch starts after C{deadline}: the start page's lease runs on
        while they are read.
        """
        want = min(want, self._config.sitemap_max_urls)
        reading, queue, seen = Reading(), [(url, 0) for url in sitemaps], set()
        while queue and len(reading.urls) < want:
            url, level = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            if reading.read >= self._config.sitemaps_per_site:
                reading.errors.append(f"more than {self._config.sitemaps_per_site} sitemaps: "
                                      "the rest were not read")
                break
            if not await self._host_due(url, deadline):
                reading.errors.append(f"{url}: not read, the host's delay leaves no time for it")
                break
            reading.read += 1
            try:
                kind, urls = await self._one(url, want - len(reading.urls))
            except CancelledError:
                raise
            except Exception as e:
                reading.errors.append(f"{url}: {str(e) or type(e).__name__}"[:_SHOWN_ERROR])
                continue
            if kind == "urlset":
                reading.urls.extend(urls)
            elif level >= MAX_INDEX_DEPTH:
                reading.errors.append(f"{url}: sitemap indexes nested deeper than {MAX_INDEX_DEPTH}")
            else:
                queue.extend((child, level + 1) for child in urls)
        return reading

    async def _host_due(self, url, deadline):
        """
        Wait until a fetch of C{url} may start by its host's delay (the
        pool's reservation, as for pages); C{False} when that is after
        C{deadline}.
        """
        while True:
            due = await self._store.pace(host_key(url))
            if due is None:
                return self._clock.seconds() <= deadline
            if due > deadline:
                return False
            await deferLater(self._clock, max(0.0, due - self._clock.seconds()))

    async def _one(self, url, max_locs):
        """C{(kind, urls)} of one sitemap; any failure raises, with its reason."""
        cap = self._config.sitemap_max_bytes
        fetched = await self._fetcher.fetch(url, any_type=True, limit=cap)
        if fetched.status >= 300:
            raise SitemapError(f"HTTP {fetched.status}")
        if fetched.truncated:
            raise SitemapError(f"over {cap} bytes")
        return await maybeDeferred(self._run, read_body, fetched.body or b"", cap, max_locs)
