"""What every result of worker.extract must satisfy, whatever the input.

The rest of the crawler relies on these without checking: it compares URLs
as strings, stores kinds as given and fetches every URL it is handed.
"""

import re

from common.urls import normalize
from worker.extract import KINDS, Image, Page

ASCII_WHITESPACE = "\t\n\x0c\r "
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def check_url(url: str) -> None:
    """A URL leaving extraction is absolute http(s), canonical (normalising it
    again changes nothing, so string comparison is deduplication), without a
    fragment, and printable ASCII only: non-ASCII is percent-encoded and hosts
    IDNA-encoded, so no whitespace or control character is left in it."""
    assert isinstance(url, str)
    assert url.startswith(("http://", "https://")), url
    assert "#" not in url, url
    assert all("\x21" <= c <= "\x7e" for c in url), url
    assert normalize(url) == url, url


def check_image(image: Image) -> None:
    """An image was found by at least one documented kind, listed once each,
    sorted (stored results must not vary by hash seed); its alt is absent or
    non-empty text with its whitespace collapsed."""
    assert isinstance(image, Image)
    assert image.kinds, image
    assert list(image.kinds) == sorted(set(image.kinds)), image
    assert set(image.kinds) <= set(KINDS), image
    if image.alt is not None:
        assert image.alt, image
        assert image.alt == " ".join(image.alt.split()), image


def check_page(page: Page) -> None:
    """The whole contract of extract(): canonical image URLs with valid
    images, and followable and nofollow links that are canonical, each
    listed once, in one of the two lists only."""
    assert isinstance(page, Page)
    assert isinstance(page.images, dict)
    for url, image in page.images.items():
        check_url(url)
        check_image(image)
    for links in (page.links, page.nofollow):
        assert isinstance(links, list)
        assert len(set(links)) == len(links), links
        for url in links:
            check_url(url)
    assert not set(page.links) & set(page.nofollow), page


def check_raw_urls(urls: list[str], source: str) -> None:
    """srcset_urls and css_urls return raw references for the page's base to
    resolve: non-blank strings taken verbatim from their input, except
    where CSS decodes them (escapes; NUL and surrogates read as U+FFFD;
    CR and FF read as LF)."""
    assert isinstance(urls, list)
    decoded = any(c in source for c in "\\\x00\r\x0c") or _SURROGATE_RE.search(source)
    for url in urls:
        assert isinstance(url, str)
        assert url.strip(ASCII_WHITESPACE), urls
        assert decoded or url in source, (url, source)


def kinds_by_url(page: Page) -> dict[str, set[str]]:
    """URL -> kinds, for comparing what was found without order or alt."""
    return {url: set(image.kinds) for url, image in page.images.items()}
