"""
The web page in headless Chromium against a real stack (redis-server, the
API, workers) crawling fixture sites on 127.0.0.2 and 127.0.0.3: a crawl
submitted through the form, watched live to the end, and a site of hostile
URLs and alt texts that must not run a line of script.
"""

import time
from pathlib import Path

import pytest

from tests.browser import sites
from tests.site import FixtureSite
from tests.wait import wait_for

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
LOADED = "[...document.querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)"
# Recorded before any script of the page runs: every CSP violation the page sees.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def until(page, expression, message, timeout=60):
    """
    Wait until C{expression} is true in the page.  Not Playwright's
    C{wait_for_function}: it evaluates strings with C{eval}, which the
    page's CSP refuses, as it should.
    """
    return wait_for(lambda: page.evaluate(expression), timeout, message, interval=0.1)


def status_is(page, status, timeout=60):
    until(page, f"document.querySelector('#job-status').textContent === '{status}'",
          f"#job-status to say {status}", timeout)


def crawl_through_the_form(page, stack, url):
    """Open the page, submit C{url} with the form, wait for the job to complete."""
    page.goto(stack.client.base + "/")
    page.fill("#urls", url)
    page.click("#submit")
    status_is(page, "completed", timeout=90)
    until(page, "(p => p.dataset.admitted !== '0' && p.dataset.crawled === p.dataset.admitted)"
                "(document.querySelector('#progress'))", "#progress to reach completion")
    return page.eval_on_selector("#job-id", "e => e.textContent")


def wait_for_thumbs(page, count):
    until(page, f"document.querySelectorAll('.thumb').length === {count}", f"{count} .thumb")
    return page.eval_on_selector_all(".thumb", "els => els.map(e => e.dataset.url)")


def test_a_crawl_submitted_through_the_form_fills_the_gallery_live(make_stack, browser_page):
    stack = make_stack(workers=2)
    page = browser_page
    with FixtureSite(sites.GALLERY, host="127.0.0.2") as site:
        job_id = crawl_through_the_form(page, stack, site.url("/"))
        images = stack.client.images(job_id)
        assert len(images) == len(sites.COLOURS)
        shown = wait_for_thumbs(page, len(images))
        assert sorted(shown) == sorted(images)
        progress = page.eval_on_selector("#progress", "p => [p.dataset.crawled, p.dataset.admitted]")
        job = stack.client.job(job_id)
        stats = job["stats"]
        assert progress == [str(stats["pages_crawled"] + stats["pages_failed"] + stats["pages_skipped"]),
                            str(stats["pages_admitted"])]
        # Thumbnails really load, from the crawled site, and the list shows the job.
        until(page, LOADED, "every thumbnail to load")
        assert page.locator("#jobs li", has_text="completed").count() >= 1

        # A filter by kind narrows the gallery to the images that kind found.
        srcset_only = [u for u, image in images.items() if image["sources"] == ["srcset"]]
        for kind in {k for image in images.values() for k in image["sources"]} - {"srcset"}:
            page.uncheck(f"#kind-filter input[value='{kind}']")
        assert sorted(wait_for_thumbs(page, len(srcset_only))) == sorted(srcset_only)
        page.check("#kind-filter input[value='img']")
        with_img = [u for u, image in images.items() if {"img", "srcset"} & set(image["sources"])]
        wait_for_thumbs(page, len(with_img))

        # Details of one image: its kinds, alt and the pages it was found on.
        orange = site.url("/img/1.png")
        page.click(f".thumb[data-url='{orange}']")
        assert page.text_content("#details-url") == orange
        assert page.text_content("#details-kinds") == ", ".join(images[orange]["sources"])
        assert page.text_content("#details-alt") == images[orange]["alt"]
        assert sorted(page.eval_on_selector_all("#details-found-on a", "as => as.map(a => a.href)")) \
            == sorted(images[orange]["found_on"])
        assert page.get_attribute("#export-csv", "href") == f"/jobs/{job_id}/images?format=csv"
        for kind in ("link", "meta", "lazy", "picture", "poster", "input", "style"):
            if page.locator(f"#kind-filter input[value='{kind}']").count():
                page.check(f"#kind-filter input[value='{kind}']")
        wait_for_thumbs(page, len(images))
        until(page, LOADED, "every thumbnail to load")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")
    assert not [text for kind, text in page.console if kind == "error"], page.console


def test_the_form_sends_every_option_and_the_job_can_be_cancelled(make_stack, browser_page):
    stack = make_stack(workers=0)       # nothing crawls: the job stays live until cancelled
    page = browser_page
    page.goto(stack.client.base + "/")
    page.fill("#urls", "http://127.0.0.3:9/\nhttp://127.0.0.3:9/b")
    page.check("#unlimited")
    page.select_option("#scope", "domain")
    page.fill("#max-pages", "50")
    page.fill("#host-concurrency", "2")
    page.fill("#host-delay", "0.5")
    page.click("#new-job summary")
    page.fill("#include", "/gallery/")
    page.fill("#exclude", "\\.pdf$")
    page.check("#sitemaps")
    page.uncheck("#obey-nofollow")
    page.click("#submit")
    status_is(page, "queued")
    job_id = page.text_content("#job-id")
    options = stack.client.job(job_id)["options"]
    assert {k: options[k] for k in ("max_depth", "scope", "max_pages", "host_concurrency",
                                    "host_delay", "include", "exclude", "sitemaps",
                                    "obey_nofollow")} == {
        "max_depth": None, "scope": "domain", "max_pages": 50, "host_concurrency": 2,
        "host_delay": 0.5, "include": ["/gallery/"], "exclude": ["\\.pdf$"], "sitemaps": True,
        "obey_nofollow": False}
    page.click("#cancel")
    status_is(page, "cancelled")
    assert stack.client.job(job_id)["status"] == "cancelled"


def test_hostile_urls_and_alt_texts_run_no_script(make_stack, browser_page):
    stack = make_stack(workers=2)
    page = browser_page
    page.add_init_script(WATCH_CSP)
    with FixtureSite(sites.XSS, host="127.0.0.3") as site:
        job_id = crawl_through_the_form(page, stack, site.url("/"))
        images = stack.client.images(job_id)
        alts = [image["alt"] or "" for image in images.values()]
        assert any("<script>" in alt for alt in alts), "the fixture's payloads reached the API"
        assert any("<script>" in page_url or "%3Cscript" in page_url
                   for image in images.values() for page_url in image["found_on"])
        shown = wait_for_thumbs(page, len(images))
        assert sorted(shown) == sorted(images)
        for url in shown:       # every image's details, with every hostile string in them
            page.evaluate("url => [...document.querySelectorAll('.thumb')]"
                          ".find(t => t.dataset.url === url).click()", url)
            assert page.text_content("#details-url") == url
            alt = images[url]["alt"]
            assert page.text_content("#details-alt") == ("(none)" if alt is None else alt)
            page.hover("#details-alt")
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            assert href.startswith(("http://", "https://")), href
        for src in page.eval_on_selector_all("img[src]", "is => is.map(i => i.src)"):
            assert src.startswith(("http://", "https://")), src
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("window.__csp") == []
    assert not [text for _, text in page.console if "Content Security Policy" in text], page.console


@pytest.mark.slow
def test_fifty_thousand_images_page_the_gallery_without_freezing_the_tab(make_stack, browser_page):
    pages = {f"/p{n}": "".join(f'<img src="/i/{n}/{i}.png">' for i in range(10_000))
             for n in range(5)}
    routes = {"/": page_of_links(pages), **{path: (200, {"Content-Type": "text/html"}, body)
                                            for path, body in pages.items()}}
    stack = make_stack(workers=2)
    page = browser_page
    with FixtureSite(routes, host="127.0.0.4") as site:
        crawl_through_the_form(page, stack, site.url("/"))
        until(page, "document.querySelector('#gallery-count').textContent"
                    ".startsWith('50000 of 50000')", "all 50,000 images to arrive", timeout=120)
        assert page.locator(".thumb").count() == 120
        start = time.monotonic()
        page.click("#next-page")
        assert page.text_content("#page-info") == "page 2 of 417"
        assert time.monotonic() - start < 2, "turning a page took too long"


def page_of_links(pages):
    return 200, {"Content-Type": "text/html"}, "".join(f'<a href="{p}">{p}</a>' for p in pages)
