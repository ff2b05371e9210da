"""
Crawl controls on real processes (redis-server, the API, two workers) and
fixture sites on loopback: unlimited and bounded depth, include/exclude
patterns, sitemaps found through robots.txt, and nofollow.
"""

import gzip
import json

from tests.site import FixtureSite, page

XML = "application/xml"
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
CHAIN = 30
OUT_OF_SCOPE = "http://127.0.0.7:9/elsewhere"     # no start URL's host: never crawled


def chain_routes(length):
    """/p0 -> /p1 -> ... -> /pN by "next" links, each page one image."""
    routes = {}
    for n in range(length + 1):
        after = f'<a rel="next" href="/p{n + 1}">next</a>' if n < length else "the end"
        routes[f"/p{n}"] = page(f'<img src="/img/{n}.png">{after}')
    return routes


def crawled_paths(stack, job_id, site):
    job = stack.client.wait_done(job_id)
    assert job["status"] == "completed", json.dumps(job)
    pages = stack.client.pages(job_id)
    bad = {url: p for url, p in pages.items() if p["status"] != 200}
    assert not bad, f"pages not crawled: {bad}"
    return job, {url[len(site.base):]: p for url, p in pages.items()}


def submit_text(stack, url, query):
    status, job = stack.client.json("POST", f"/jobs?{query}", url.encode(), content_type="text/plain")
    assert status == 201, job
    return job["id"]


def test_no_depth_limit_crawls_a_30_deep_chain_and_a_limit_stops_it(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(chain_routes(CHAIN), host="127.0.0.2") as site:
        whole = stack.client.submit([site.url("/p0")], max_depth=None)
        job, pages = crawled_paths(stack, whole, site)
        assert job["options"]["max_depth"] is None
        assert {path: p["depth"] for path, p in pages.items()} == {
            f"/p{n}": n for n in range(CHAIN + 1)}
        assert job["stats"]["images_found"] == CHAIN + 1

        bounded = submit_text(stack, site.url("/p0"), "max_depth=5")
        _, pages = crawled_paths(stack, bounded, site)
        assert set(pages) == {f"/p{n}" for n in range(6)}, "max_depth=5 stops at /p5"

        again = submit_text(stack, site.url("/p0"), "max_depth=none&max_pages=12")
        job, pages = crawled_paths(stack, again, site)
        assert job["options"]["max_depth"] is None
        assert set(pages) == {f"/p{n}" for n in range(12)}, "max_pages bounds an unlimited depth"
    assert site.hits["/p6"] == 2 and site.hits["/p12"] == 1 and site.hits["/p30"] == 1


BLOG = {
    "/": page('<a href="/blog/">blog</a><a href="/about">about</a><a href="/tag/x">tag</a>'
              '<a href="/blog/tag/y">blog tag</a>'),
    "/blog/": page('<a href="/blog/first">first</a><a href="/blog/tag/z">z</a><a href="/">home</a>'),
    "/blog/first": page('<img src="/img/first.png"><a href="/blog/second">second</a>'),
    "/blog/second": page("<p>second</p>"),
    "/about": page("<p>about</p>"),
}


def test_include_and_exclude_keep_the_crawl_to_part_of_a_site(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(BLOG, host="127.0.0.3") as site:
        job_id = stack.client.submit([site.url("/")], max_depth=3,
                                     include=["/blog/"], exclude=["/tag/"])
        job, pages = crawled_paths(stack, job_id, site)
    assert set(pages) == {"/", "/blog/", "/blog/first", "/blog/second"}, "the start URL is always crawled"
    assert (job["options"]["include"], job["options"]["exclude"]) == (["/blog/"], ["/tag/"])
    assert all(site.hits[p] == 0 for p in ("/about", "/tag/x", "/blog/tag/y", "/blog/tag/z"))


def test_a_bad_pattern_is_a_422_naming_it(make_stack):
    stack = make_stack(workers=0)
    status, error = stack.client.json("POST", "/jobs", {"urls": ["http://127.0.0.9/"],
                                                        "exclude": ["ok", r"(a)\1"]})
    assert status == 422 and error["error"]["code"] == "bad_option"
    assert r"(a)\\1" in error["error"]["message"]


def urlset(site, *paths):
    entries = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in paths)
    return f'<?xml version="1.0"?><urlset {NS}>{entries}</urlset>'


def test_sitemaps_from_robots_txt_find_pages_no_link_reaches(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite({}, host="127.0.0.4") as site, FixtureSite({}, host="127.0.0.5") as plain:
        index = (f'<?xml version="1.0"?><sitemapindex {NS}><sitemap><loc>{site.url("/maps/pages.xml")}'
                 "</loc></sitemap></sitemapindex>")
        site.routes.update({
            "/robots.txt": page(f"User-agent: *\nDisallow: /private/\nSitemap: {site.url('/maps/index.xml.gz')}\n",
                                content_type="text/plain"),
            "/": page('<a href="/linked">linked</a>'),
            "/linked": page("<p>linked</p>"),
            "/maps/index.xml.gz": page(gzip.compress(index.encode()), content_type="application/gzip"),
            "/maps/pages.xml": page(urlset(site, "/hidden", "/linked", "/skip/me", "/private/x")
                                    .replace("</urlset>", f"<url><loc>{OUT_OF_SCOPE}</loc></url></urlset>"),
                                    content_type=XML),
            "/hidden": page('<img src="/img/hidden.png">'),
        })
        # No Sitemap: line (robots.txt is a 404): the sitemap is /sitemap.xml.
        plain.routes.update({"/": page("<p>plain</p>"),
                             "/sitemap.xml": page(urlset(plain, "/only-in-sitemap"), content_type=XML),
                             "/only-in-sitemap": page("<p>found</p>")})
        job_id = stack.client.submit([site.url("/"), plain.url("/")], sitemaps=True, exclude=["/skip/"])
        job = stack.client.wait_done(job_id)
        pages = set(stack.client.pages(job_id))
        without = stack.client.submit([site.url("/")])
        _, plain_pages = crawled_paths(stack, without, site)
    assert pages == {site.url("/"), site.url("/linked"), site.url("/hidden"), site.url("/private/x"),
                     plain.url("/"), plain.url("/only-in-sitemap")}
    assert job["status"] == "completed" and job["options"]["sitemaps"] is True
    records = stack.client.pages(job_id)
    assert records[site.url("/")]["sitemaps"] == {"read": 2, "urls": 5, "errors": []}
    assert records[site.url("/hidden")]["depth"] == 1
    assert records[site.url("/private/x")]["skipped"] == "robots.txt", "sitemap URLs obey robots.txt"
    assert records[plain.url("/")]["sitemaps"] == {"read": 1, "urls": 1, "errors": []}
    assert set(plain_pages) == {"/", "/linked"}, "no sitemaps unless asked"
    assert site.hits["/skip/me"] == 0 and OUT_OF_SCOPE not in pages
    assert site.hits["/maps/index.xml.gz"] == 1 and site.hits["/maps/pages.xml"] == 1


NOFOLLOW = {
    "/": page('<a href="/ok">ok</a><a rel="nofollow" href="/nf">nf</a>'
              '<a rel="external nofollow" href="/nf2">nf2</a>'),
    "/meta": page('<meta name="robots" content="noindex, nofollow"><img src="/img/meta.png">'
                  '<a href="/m1">m1</a>'),
    "/header": page('<a href="/h1">h1</a>', **{"X-Robots-Tag": "noindex, nofollow"}),
    "/otherbot": page('<a href="/h2">h2</a>', **{"X-Robots-Tag": "otherbot: nofollow"}),
    "/ok": page("<p>ok</p>"), "/nf": page("<p>nf</p>"), "/nf2": page("<p>nf2</p>"),
    "/m1": page("<p>m1</p>"), "/h1": page("<p>h1</p>"), "/h2": page("<p>h2</p>"),
}
STARTS = ("/", "/meta", "/header", "/otherbot")


def test_nofollow_is_obeyed_by_default_and_on_request_ignored(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(NOFOLLOW, host="127.0.0.6") as site:
        obeyed = stack.client.submit([site.url(path) for path in STARTS])
        job, pages = crawled_paths(stack, obeyed, site)
        assert set(pages) == {*STARTS, "/ok", "/h2"}, "X-Robots-Tag to another bot is not ours"
        assert job["options"]["obey_nofollow"] is True
        assert job["stats"]["images_found"] == 1, "a noindex page is still read for its images"
        ignored = stack.client.submit([site.url(path) for path in STARTS], obey_nofollow=False)
        job, pages = crawled_paths(stack, ignored, site)
        assert set(pages) == {*STARTS, "/ok", "/nf", "/nf2", "/m1", "/h1", "/h2"}
        assert job["options"]["obey_nofollow"] is False
