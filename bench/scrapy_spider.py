"""
The reference: the Scrapy spider a user would write to get every image of
a site, with Scrapy's default settings (one process, CONCURRENT_REQUESTS
16, 8 per domain, its request dedup, no HTTP cache, no autothrottle).

It follows every link within the start URL's host, as our C{scope=host}
crawl does, and extracts the same image kinds with parsel selectors.  One
item per page: C{{"url", "images"}}; the harness reads them from the feed.

L{Stopwatch} is the harness's, not part of the spider: an extension that
records when the crawl opened, when the last page was parsed and the
process's own CPU use at open and close, so that Scrapy's start-up (imports,
reactor) is left out of its numbers exactly as our stack's start-up is left
out of ours.  Runs only in the bench venv (C{scrapy runspider}).
"""

import json
import re
import resource
import time
from urllib.parse import urlsplit

import scrapy
from scrapy import signals

_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")

# Attributes that hold one image URL each.
_SINGLE = ", ".join((
    "img::attr(src)",
    "img::attr(data-src)",
    "input[type=image]::attr(src)",
    "video::attr(poster)",
    "svg image::attr(href)",
    "meta[property='og:image']::attr(content)",
    "meta[name='twitter:image']::attr(content)",
    "link[rel~=icon]::attr(href)",
    "link[rel=apple-touch-icon]::attr(href)",
))
_SRCSETS = "img::attr(srcset), picture source::attr(srcset)"


class ImageSpider(scrapy.Spider):
    name = "images"
    custom_settings = {"ROBOTSTXT_OBEY": False}

    def __init__(self, start, **kwargs):
        super().__init__(**kwargs)
        self.start_urls = [start]
        self.allowed_domains = [urlsplit(start).hostname]

    def parse(self, response):
        yield {"url": response.url, "images": sorted(self.images(response))}
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, callback=self.parse)

    @staticmethod
    def images(response):
        found = response.css(_SINGLE).getall()
        for srcset in response.css(_SRCSETS).getall():
            found.extend(c.split()[0] for c in srcset.split(",") if c.strip())
        for style in response.css("[style]::attr(style)").getall():
            found.extend(_CSS_URL.findall(style))
        return {response.urljoin(u.strip()) for u in found
                if u.strip() and not u.strip().startswith("data:")}


class Stopwatch:
    """Writes C{{opened, last_page, closed, cpu_open, cpu_close, maxrss_kb}}
    to the C{STOPWATCH_FILE} setting when the spider closes."""

    def __init__(self, path):
        self.path = path
        self.marks = {}

    @classmethod
    def from_crawler(cls, crawler):
        watch = cls(crawler.settings.get("STOPWATCH_FILE"))
        crawler.signals.connect(watch.opened, signal=signals.spider_opened)
        crawler.signals.connect(watch.parsed, signal=signals.item_scraped)
        crawler.signals.connect(watch.closed, signal=signals.spider_closed)
        return watch

    @staticmethod
    def _cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def opened(self, spider):
        self.marks.update(opened=time.time(), cpu_open=self._cpu())

    def parsed(self, item, response, spider):
        self.marks["last_page"] = time.time()

    def closed(self, spider, reason):
        self.marks.update(closed=time.time(), cpu_close=self._cpu(), reason=reason,
                          maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        with open(self.path, "w") as out:
            json.dump(self.marks, out)
