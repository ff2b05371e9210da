"""
Unit tests for worker.sitemaps: parsing (urlset, index, gzip, hostile XML)
and reading a site's sitemaps within their bounds, over a fetcher stand-in.
"""

import dataclasses
import gzip

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import Clock

from common import keys
from common.config import from_env
from common.keys import START_MARGIN
from tests.fakes import FakeStore
from worker.fetch import Fetched, FetchError
from worker.sitemaps import (MAX_INDEX_DEPTH, SitemapError, SitemapReader, default_sitemaps,
                             inflated, parse, read_body)

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(*locs, ns=NS):
    entries = "".join(f"<url><loc>{loc}</loc><lastmod>2024-01-01</lastmod></url>" for loc in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {ns}>{entries}</urlset>'.encode()


def index(*locs):
    entries = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f'<?xml version="1.0"?><sitemapindex {NS}>{entries}</sitemapindex>'.encode()


# --- parsing ---------------------------------------------------------------------------


def test_a_urlset_gives_its_locs_in_order():
    assert parse(urlset("http://e.com/a", " http://e.com/b\n"), 100) == (
        "urlset", ["http://e.com/a", "http://e.com/b"])


def test_a_sitemap_without_namespace_is_read_too():
    assert parse(urlset("http://e.com/a", ns=""), 100) == ("urlset", ["http://e.com/a"])


def test_an_index_gives_its_sitemaps():
    assert parse(index("http://e.com/s1.xml", "http://e.com/s2.xml"), 100) == (
        "sitemapindex", ["http://e.com/s1.xml", "http://e.com/s2.xml"])


def test_only_entry_locs_count_not_image_extension_locs():
    body = (f'<urlset {NS} xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
            "<url><loc>http://e.com/p</loc><image:image><image:loc>http://e.com/i.png</image:loc>"
            "</image:image></url><loc>http://e.com/stray</loc></urlset>").encode()
    assert parse(body, 100) == ("urlset", ["http://e.com/p"])


def test_locs_stop_at_the_cap():
    assert parse(urlset(*[f"http://e.com/{i}" for i in range(50)]), 3)[1] == [
        "http://e.com/0", "http://e.com/1", "http://e.com/2"]


def test_non_http_locs_are_dropped_and_the_rest_normalised():
    body = urlset("ftp://e.com/f", "javascript:alert(1)", "mailto:a@e.com", "HTTP://E.com/a#frag", "")
    assert read_body(body, 1 << 20, 100) == ("urlset", ["http://e.com/a"])


@pytest.mark.parametrize(("body", "reason"), [
    (b"<urlset><url><loc>http://e.com/</loc></url>", "malformed XML"),
    (b"not xml at all", "malformed XML"),
    (b"", "malformed XML"),
    (b"<html><body>a page</body></html>", "not a sitemap"),
])
def test_what_is_not_a_sitemap_is_refused_with_its_reason(body, reason):
    with pytest.raises(SitemapError, match=reason):
        parse(body, 100)


def test_billion_laughs_is_refused_not_expanded():
    lol = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
                     for i in range(1, 10))
           + f"]><urlset {NS}><url><loc>http://e.com/&lol9;</loc></url></urlset>")
    with pytest.raises(SitemapError, match="refused XML"):
        parse(lol.encode(), 100)


def test_an_external_entity_is_refused_never_read(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("http://e.com/leaked")
    body = (f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file://{secret}">]>'
            f"<urlset {NS}><url><loc>&x;</loc></url></urlset>").encode()
    with pytest.raises(SitemapError, match="refused XML"):
        parse(body, 100)


def test_an_external_dtd_is_refused():
    body = (f'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "http://127.0.0.1:9/x.dtd">'
            f"<urlset {NS}></urlset>").encode()
    with pytest.raises(SitemapError, match="refused XML"):
        parse(body, 100)


# --- gzip --------------------------------------------------------------------------------


def test_gzip_is_known_by_its_magic_bytes():
    body = urlset("http://e.com/a")
    assert inflated(gzip.compress(body), 1 << 20) == body
    assert inflated(body, 1 << 20) == body
    assert read_body(gzip.compress(index("http://e.com/s.xml")), 1 << 20, 10) == (
        "sitemapindex", ["http://e.com/s.xml"])


def test_a_gzip_bomb_stops_at_the_cap():
    bomb = gzip.compress(b"<" * (64 * 1024 * 1024))     # 64 MiB in about 64 KiB
    assert len(bomb) < 200_000
    with pytest.raises(SitemapError, match="over 1048576 bytes after decompression"):
        inflated(bomb, 1024 * 1024)


def test_broken_gzip_and_plain_bodies_over_the_cap_are_refused():
    with pytest.raises(SitemapError, match="broken gzip"):
        inflated(b"\x1f\x8b" + b"garbage" * 10, 1 << 20)
    with pytest.raises(SitemapError, match="over 10 bytes"):
        inflated(b"x" * 11, 10)


# --- reading a site's sitemaps -------------------------------------------------------------


class Fetcher:
    """Answers from a dict of URL -> body (or an exception, or a status)."""

    def __init__(self, answers, clock=None):
        self.answers = answers
        self.clock = clock
        self.fetched = []
        self.limits = []
        self.times = []

    def fetch(self, url, any_type=False, limit=None, max_redirects=None):
        assert any_type, "a sitemap is read whatever its type"
        self.fetched.append(url)
        self.limits.append(limit)
        self.times.append(self.clock.seconds() if self.clock else None)
        answer = self.answers.get(url, 404)
        if isinstance(answer, Exception):
            return fail(answer)
        if isinstance(answer, Deferred):
            return answer
        if isinstance(answer, int):
            return succeed(Fetched(url, answer, "text/html", b"not found"))
        return succeed(Fetched(url, 200, "application/xml", answer))


def reader_of(fetcher, clock, **settings):
    config = dataclasses.replace(from_env({}), **settings)
    return SitemapReader(fetcher, FakeStore(clock), clock, config, lambda f, *args: f(*args))


def read(answers, sitemaps, want=1000, **settings):
    fetcher = Fetcher(answers)
    reader = reader_of(fetcher, Clock(), **settings)
    results = []
    Deferred.fromCoroutine(reader.read(sitemaps, want, deadline=60)).addBoth(results.append)
    assert results, "reading did not finish"
    return results[0], fetcher


def paced_reading(delay, deadline):
    """Read an index of two sitemaps on a host with C{delay} between fetch
    starts, whose next start is due in a second: (reading, fetch times)."""
    clock = Clock()
    fetcher = Fetcher({"http://e.com/index.xml": index("http://e.com/a.xml", "http://e.com/b.xml"),
                       "http://e.com/a.xml": urlset("http://e.com/1"),
                       "http://e.com/b.xml": urlset("http://e.com/2")}, clock)
    reader = reader_of(fetcher, clock)
    reader._store.redis_state.hset(keys.host("http://e.com"),
                                   mapping={"delay": delay, "start_next": 1})
    results = []
    Deferred.fromCoroutine(reader.read(["http://e.com/index.xml"], 100, deadline)).addBoth(
        results.append)
    for _ in range(100):
        clock.advance(0.25)
    assert results, "reading did not finish"
    return results[0], fetcher.times


def test_each_sitemap_fetch_keeps_the_host_delay_of_the_pool():
    reading, times = paced_reading(delay=2, deadline=60)
    assert reading.urls == ["http://e.com/1", "http://e.com/2"]
    assert len(times) == 3 and times[0] >= 1, "the first waits for the host's next start"
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert min(gaps) >= 2 + START_MARGIN and max(gaps) <= 2 + START_MARGIN + 0.25


def test_no_sitemap_fetch_starts_past_the_deadline():
    reading, times = paced_reading(delay=10, deadline=5)
    assert reading.urls == [] and len(times) == 1
    assert reading.errors == [
        "http://e.com/a.xml: not read, the host's delay leaves no time for it"]


def test_an_index_and_its_gzipped_sitemaps_are_followed():
    answers = {
        "http://e.com/index.xml.gz": gzip.compress(index("http://e.com/a.xml", "http://e.com/b.xml.gz")),
        "http://e.com/a.xml": urlset("http://e.com/1", "http://e.com/2"),
        "http://e.com/b.xml.gz": gzip.compress(urlset("http://e.com/3")),
    }
    reading, fetcher = read(answers, ["http://e.com/index.xml.gz"])
    assert reading.urls == ["http://e.com/1", "http://e.com/2", "http://e.com/3"]
    assert reading.note() == {"read": 3, "urls": 3, "errors": []}
    assert set(fetcher.limits) == {from_env({}).sitemap_max_bytes}


def test_a_failing_sitemap_costs_only_its_note():
    answers = {
        "http://e.com/ok.xml": urlset("http://e.com/1"),
        "http://e.com/broken.xml": b"<urlset>",
        "http://e.com/down.xml": FetchError("connection refused"),
    }
    reading, _ = read(answers, ["http://e.com/missing.xml", "http://e.com/broken.xml",
                                "http://e.com/down.xml", "http://e.com/ok.xml"])
    assert reading.urls == ["http://e.com/1"]
    assert reading.read == 4
    assert reading.errors[0] == "http://e.com/missing.xml: HTTP 404"
    assert reading.errors[1].startswith("http://e.com/broken.xml: malformed XML")
    assert reading.errors[2] == "http://e.com/down.xml: connection refused"


def test_indexes_nest_only_so_deep():
    chain = {f"http://e.com/i{n}.xml": index(f"http://e.com/i{n + 1}.xml") for n in range(10)}
    reading, fetcher = read(chain, ["http://e.com/i0.xml"])
    assert len(fetcher.fetched) == MAX_INDEX_DEPTH + 1
    assert reading.errors == [f"http://e.com/i{MAX_INDEX_DEPTH}.xml: sitemap indexes nested "
                              f"deeper than {MAX_INDEX_DEPTH}"]


def test_files_per_site_are_capped_and_a_loop_is_read_once():
    answers = {"http://e.com/i.xml": index(*[f"http://e.com/{n}.xml" for n in range(10)],
                                           "http://e.com/i.xml")}
    answers.update({f"http://e.com/{n}.xml": urlset(f"http://e.com/p{n}") for n in range(10)})
    reading, fetcher = read(answers, ["http://e.com/i.xml"], sitemaps_per_site=4)
    assert fetcher.fetched == ["http://e.com/i.xml", "http://e.com/0.xml", "http://e.com/1.xml",
                               "http://e.com/2.xml"]
    assert reading.urls == ["http://e.com/p0", "http://e.com/p1", "http://e.com/p2"]
    assert reading.errors == ["more than 4 sitemaps: the rest were not read"]


def test_urls_stop_at_the_wanted_number_and_the_setting():
    answers = {"http://e.com/s.xml": urlset(*[f"http://e.com/{n}" for n in range(100)]),
               "http://e.com/t.xml": urlset("http://e.com/never")}
    reading, fetcher = read(answers, ["http://e.com/s.xml", "http://e.com/t.xml"], want=5)
    assert reading.urls == [f"http://e.com/{n}" for n in range(5)]
    assert fetcher.fetched == ["http://e.com/s.xml"]
    reading, _ = read(answers, ["http://e.com/s.xml"], want=50, sitemap_max_urls=7)
    assert len(reading.urls) == 7


def test_an_oversized_sitemap_is_an_error():
    answers = {"http://e.com/big.xml": gzip.compress(urlset(*[f"http://e.com/{n}" for n in range(500)]))}
    reading, _ = read(answers, ["http://e.com/big.xml"], sitemap_max_bytes=2048)
    assert reading.urls == []
    assert reading.errors == ["http://e.com/big.xml: over 2048 bytes after decompression"]


def test_the_default_sitemap_is_at_the_root_of_the_site():
    assert default_sitemaps("https://e.com:8443/a/b?c") == ["https://e.com:8443/sitemap.xml"]
