"""The checked-in corpus, replayed on every run: inputs that once failed
(and a few seeds), and the web-platform-tests srcset page as a page (its
cases, one by one, are tests/unit/test_srcset_wpt.py).  Each input must
pass what the properties demand of any input; a new failure found by a
deep run goes here (README.rst)."""

import json
from html import escape
from pathlib import Path

import pytest

from tests.fuzz.contracts import check_page, check_raw_urls
from worker.css import css_urls
from worker.decoding import decode_html, is_html
from worker.extract import extract
from worker.srcset import srcset_urls

CORPUS = Path(__file__).parent / "corpus"
PAGE = "http://site.test/dir/page.html"


def _entries(name: str) -> list:
    """The {"input", "why"} lines of a .jsonl corpus file, as test params."""
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    return [pytest.param(entry["input"], id=entry["why"]) for entry in entries]


# The WPT srcset cases (tests/data/wpt, checked case by case in
# tests/unit/test_srcset_wpt.py) are replayed here as a page too.
WPT = Path(__file__).parent.parent / "data" / "wpt"
_PAGES = sorted((CORPUS / "html").glob("*.html")) + sorted(WPT.glob("*.html"))
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
