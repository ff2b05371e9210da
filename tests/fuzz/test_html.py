"""Properties of extract(): what it finds in generated pages, and that no
page, however broken, makes it raise or break its contract."""

from html import escape

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.contracts import check_page, kinds_by_url
from tests.fuzz.strategies import (
    PAGE_URLS,
    broken_markup,
    documents,
    expected_url,
    markup_soup,
    references,
)
from worker.extract import extract

_any_text = st.text(st.characters(exclude_categories=()))


@given(st.one_of(_any_text, markup_soup, broken_markup()), PAGE_URLS)
@example('\ud800<img src="a\udc00.png">', "http://site.test/dir/page.html")
@example("<base href='\x00'><img src=a.png>", "http://site.test/dir/page.html")
def test_any_text_gives_a_valid_page(html, page_url):
    """Pages are whatever servers send: no text may make extraction raise,
    or yield a URL the crawler cannot fetch and compare, or an image
    without a kind.  The same text gives the same page every time (results
    are stored, and two workers may parse one page)."""
    page = extract(html, page_url)
    check_page(page)
    assert extract(html, page_url) == page


@given(documents(), PAGE_URLS)
def test_pages_give_exactly_their_images_and_links(document, page_url):
    """A page built from the README's image rules gives each of its
    references, resolved against its <base href> (or the page), with the
    kinds that referenced it, and nothing else: not the markup in comments,
    scripts, text areas or text, nor <source> outside <picture>, nor
    non-image <link>/<meta>/<input>.  Links are those of <a>, <area> and
    meta refresh, each once, in document order: nofollow ones (rel, or all
    of them under a robots nofollow) apart."""
    page = extract(document.html(), page_url)
    check_page(page)
    assert kinds_by_url(page) == document.expected_images(page_url)
    assert (page.links, page.nofollow) == document.expected_links(page_url)


@given(documents(), PAGE_URLS, st.sampled_from(["", " ", "\n\n\t", "\ufeff"]),
       st.sampled_from(["", " ", "\n", "\r\n  "]))
def test_surrounding_white_space_changes_nothing(document, page_url, before, after):
    """White space (or a BOM left by a decoder) around a document is not
    content: the page is the same, alts and order included."""
    html = document.html()
    assert extract(before + html + after, page_url) == extract(html, page_url)


@given(documents(), PAGE_URLS, st.sampled_from(["div", "span", "section", "main", "noscript"]))
def test_an_unrelated_container_changes_nothing(document, page_url, container):
    """Wrapping the body in one more element without attributes changes no
    image, alt or link, nor their order: only the elements that carry
    URLs matter, not where they sit."""
    page = extract(document.html(wrap=container), page_url)
    assert page == extract(document.html(), page_url)


@given(documents(), PAGE_URLS, st.data())
def test_an_img_inserted_anywhere_is_found(document, page_url, data):
    """An <img src> put between any two tokens of the body (inside
    containers, pictures, links, SVG, video) is found with the kind "img"
    (unless its src is no crawlable URL), and the other images are the
    same: an element's images do not depend on its neighbours."""
    tokens = document.body.tokens
    at = data.draw(st.integers(0, len(tokens)), label="at")
    src = data.draw(references, label="src")
    html = document.html([*tokens[:at], f'<img src="{escape(src)}">', *tokens[at:]])
    expected = kinds_by_url(extract(document.html(), page_url))
    if (url := expected_url(src, document.base(page_url))) is not None:
        expected.setdefault(url, set()).add("img")
    assert kinds_by_url(extract(html, page_url)) == expected
