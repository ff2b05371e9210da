"""The checked-in corpus, replayed on every run: inputs that once failed
(and a few seeds), and the web-platform-tests srcset cases.  Each input
must pass what the properties demand of any input; a new failure found by
a deep run goes here (README.rst)."""

import json
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.fuzz.contracts import check_page, check_raw_urls
from worker.extract import css_urls, decode_html, extract, is_html, srcset_urls

CORPUS = Path(__file__).parent / "corpus"
PAGE = "http://site.test/dir/page.html"


def _entries(name: str) -> list:
    """The {"input", "why"} lines of a .jsonl corpus file, as test params."""
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    return [pytest.param(entry["input"], id=entry["why"]) for entry in entries]


_PAGES = sorted((CORPUS / "html").glob("*.html")) + sorted((CORPUS / "wpt").glob("*.html"))
_CONTENT_TYPES = [
    line for line in (CORPUS / "content-types.txt").read_text(encoding="ascii").splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize("srcset", _entries("srcset.jsonl"))
def test_srcset_corpus(srcset):
    """A srcset gives raw candidate URLs, and a page with it a valid page."""
    check_raw_urls(srcset_urls(srcset), srcset)
    check_page(extract(f'<img srcset="{escape(srcset)}">', PAGE))


@pytest.mark.parametrize("css", _entries("css.jsonl"))
def test_css_corpus(css):
    """CSS gives raw references, in a style attribute and a <style> alike."""
    check_raw_urls(css_urls(css), css)
    check_page(extract(f'<div style="{escape(css)}"></div><style>{css}</style>', PAGE))


@pytest.mark.parametrize("path", _PAGES, ids=lambda path: path.name)
@pytest.mark.parametrize("content_type", [None, "text/html", *_CONTENT_TYPES])
def test_page_corpus(path, content_type):
    """A page's bytes, under any of the Content-Types that once broke
    decoding, decode to text and give a valid page, the same every time."""
    body = path.read_bytes()
    assert is_html(content_type, body) in (True, False)
    html = decode_html(body, content_type)
    html.encode("utf-8")
    page = extract(html, PAGE)
    check_page(page)
    assert extract(decode_html(body, content_type), PAGE) == page


class _WptSrcsets(HTMLParser):
    """The <img srcset data-expect> cases of the WPT srcset parsing test."""

    def __init__(self) -> None:
        super().__init__()
        self.cases: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img" and "srcset" in attributes:
            self.cases.append((attributes["srcset"], attributes.get("data-expect") or ""))


def _wpt_cases() -> list:
    parser = _WptSrcsets()
    parser.feed((CORPUS / "wpt" / "parse-a-srcset-attribute.html").read_text(encoding="utf-8"))
    return [pytest.param(srcset, expect, id=repr(srcset)[1:-1][:60])
            for srcset, expect in parser.cases]


@pytest.mark.parametrize(("srcset", "expect"), _wpt_cases())
def test_wpt_srcset_cases(srcset, expect):
    """Each WPT case splits without error into raw URLs, and the candidate a
    browser picks there (data-expect, as written) is among ours: srcset_urls
    may keep candidates whose descriptors a browser rejects, but never loses
    the one it shows."""
    urls = srcset_urls(srcset)
    check_raw_urls(urls, srcset)
    if expect:
        assert expect in urls
