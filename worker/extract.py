"""Images and links from one HTML page.

Runs on every crawled page, so it parses once, visits each element once and
keeps BeautifulSoup from building the parts of the tree that cannot hold a
URL. Every URL leaves here resolved and normalised by `common.urls.normalize`,
so the rest of the crawler only ever compares canonical strings.  How a
srcset and CSS are read is in `worker.srcset` and `worker.css`; how a body
becomes text, in `worker.decoding`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import Tag
from bs4.filter import ElementFilter

from common.urls import normalize, resolve
from worker.css import css_urls
from worker.srcset import srcset_urls

KINDS = ("img", "srcset", "picture", "lazy", "style", "meta", "link", "input", "poster", "svg")

# Pages are parsed whatever they look like; these warnings only say that the
# markup is odd (a bare URL, an XHTML page), which is the web's normal state.
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)

_ASCII_WHITESPACE = "\t\n\x0c\r "

_LAZY_ATTRS = frozenset({
    "data-src", "data-srcset", "data-lazy-src", "data-lazy-srcset", "data-original", "data-bg",
    "data-original-src", "data-hi-res-src", "data-fallback-src", "data-background",
    "data-background-image",
})
# Elements whose lazily loaded resource is a page, script or media, not an image.
_NOT_IMAGE_HOSTS = frozenset({"iframe", "frame", "script", "video", "audio", "embed", "object"})
_META_IMAGE_NAMES = frozenset({
    "og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src",
})
_ICON_RELS = frozenset({
    "icon", "apple-touch-icon", "apple-touch-icon-precomposed", "image_src", "mask-icon",
})
# rel tokens are split on ASCII white space; robots directives on commas
# too (and on white space, as some sites write them).
_REL_SPLIT_RE = re.compile(r"[\t\n\f\r ]+")
_ROBOTS_SPLIT_RE = re.compile(r"[\t\n\f\r ,]+")
_ROBOTS_NOFOLLOW = frozenset({"nofollow", "none"})
# A lazy attribute holding CSS, as scripts write it (plainly).
_LAZY_CSS_RE = re.compile(r"url\(|image-set\(", re.IGNORECASE)
_REFRESH_RE = re.compile(
    r"\s*[\d.]+\s*[;,]\s*(?:url\s*=\s*)?(?P<quote>[\"']?)(?P<url>.*)", re.IGNORECASE | re.DOTALL
)


class Image(NamedTuple):
    """Every way the page referenced one image URL, and its first alt text;
    kinds are sorted, not a set, so stored results do not vary by hash seed.
    A named tuple: thirty of them per page cost a frozen dataclass's
    __init__ thirty times."""

    kinds: tuple[str, ...]
    alt: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """Images by URL, followable links and links the page asks crawlers not
    to follow, each in document order; a URL with one followable link is
    followable only."""

    images: dict[str, Image]
    links: list[str]
    nofollow: list[str] = field(default_factory=list)



class _UrlElements(ElementFilter):
    """Lets BeautifulSoup skip building elements that cannot carry a URL, which
    cuts parse time by a quarter. It only applies outside accepted elements, so
    the <img> in a <picture> or the text of a <style> are still built."""

    NAMES = frozenset({
        "a", "area", "base", "img", "image", "input", "link", "meta", "picture",
        "source", "style", "video",
    })

    def allow_tag_creation(self, nsprefix: str | None, name: str, attrs: dict | None) -> bool:
        """Elements named for a URL, and any element with style or lazy attributes."""
        return name in self.NAMES or bool(attrs) and (
            "style" in attrs or not _LAZY_ATTRS.isdisjoint(attrs)
        )

    def allow_string_creation(self, string: str) -> bool:
        """Text outside accepted elements can hold no URL worth taking."""
        return False


_PARSE_ONLY = _UrlElements()


def extract(html: str, page_url: str) -> Page:
    """Find every image and followable link on one page."""
    soup = _parse(html)
    found = _Found(_base_url(soup, page_url))
    for node in soup.descendants:
        if isinstance(node, Tag):
            _visit(node, found)
    return found.page()


def _parse(html: str) -> BeautifulSoup:
    """Parse, replacing lone surrogates (decode_html never makes them, but a
    str from elsewhere may have them) that libxml2 cannot take, as U+FFFD."""
    try:
        return BeautifulSoup(html, "lxml", parse_only=_PARSE_ONLY, multi_valued_attributes=None)
    except UnicodeEncodeError:
        return _parse(html.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))


def _base_url(soup: BeautifulSoup, page_url: str) -> str:
    """The first <base href> wins, as in browsers; an unusable one is ignored."""
    base = soup.find("base", href=True)
    return (normalize(base["href"], page_url) if base else None) or page_url


class _Found:
    """What the page yielded so far, in document order; each distinct raw
    value is normalised once, since pages repeat their URLs a lot."""

    def __init__(self, base: str) -> None:
        self._base = base
        self._resolved: dict[str, str | None] = {}
        self._kinds: dict[str, set[str]] = {}
        self._alts: dict[str, str] = {}
        self._links: dict[str, bool] = {}
        self._page_nofollow = False
        self._source_pictures: dict[int, Tag | None] = {}
        self._awaiting_alt: dict[int, list[str]] = {}

    def image(self, raw: str | None, kind: str, alt: str | None = None) -> str | None:
        """Record an image; the URL is returned so a <picture> can label it later."""
        url = self._resolve(raw)
        if url is not None:
            self._kinds.setdefault(url, set()).add(kind)
            if alt:
                self._alts.setdefault(url, alt)
        return url

    def link(self, raw: str | None, follow: bool = True) -> None:
        """Record a link; one followable link makes its URL followable."""
        url = self._resolve(raw)
        if url is not None:
            self._links[url] = follow or self._links.get(url, False)

    def nofollow_page(self) -> None:
        """The robots meta said nofollow: none of the page's links is followable."""
        self._page_nofollow = True

    def picture_of(self, tag: Tag) -> Tag | None:
        """The <picture> of a <source> or <img>. lxml nests sibling sources in
        each other (it does not know <source> is void), so each source's answer
        is kept for the next: 10,000 sources stay linear, not quadratic."""
        parent = tag.parent
        if parent is not None and parent.name == "source":
            picture = self._source_pictures.get(id(parent))
        else:
            picture = parent if parent is not None and parent.name == "picture" else None
        if tag.name == "source":
            self._source_pictures[id(tag)] = picture
        return picture

    def picture_source(self, picture: Tag, raw: str | None) -> None:
        """A <picture> candidate; it gets the alt of the <img> that follows."""
        url = self.image(raw, "picture")
        if url is not None:
            self._awaiting_alt.setdefault(id(picture), []).append(url)

    def picture_alt(self, picture: Tag, alt: str | None) -> None:
        urls = self._awaiting_alt.pop(id(picture), ())
        if alt:
            for url in urls:
                self._alts.setdefault(url, alt)

    def page(self) -> Page:
        images = {
            url: Image(tuple(sorted(kinds)), self._alts.get(url))
            for url, kinds in self._kinds.items()
        }
        if self._page_nofollow:
            return Page(images, [], list(self._links))
        links = [url for url, follow in self._links.items() if follow]
        nofollow = [url for url, follow in self._links.items() if not follow]
        return Page(images, links, nofollow)

    def _resolve(self, raw: str | None) -> str | None:
        """Blank and fragment-only values point back at the page itself,
        never at an image or a new page, so they are dropped."""
        if raw is None:
            return None
        if raw not in self._resolved:
            text = raw.strip(_ASCII_WHITESPACE)
            keep = text and not text.startswith("#")
            self._resolved[raw] = resolve(text, self._base) if keep else None
        return self._resolved[raw]


def _visit(tag: Tag, found: _Found) -> None:
    """Apply the element's own rule, then the rules for any element."""
    visit = _VISITORS.get(tag.name)
    if visit is not None:
        visit(tag, found)
    attrs = tag.attrs
    if "style" in attrs:
        alt = _alt(tag)
        for url in css_urls(attrs["style"]):
            found.image(url, "style", alt)
    if not _LAZY_ATTRS.isdisjoint(attrs):
        _lazy(tag, found)


def _alt(tag: Tag | None) -> str | None:
    """Alt text with whitespace collapsed; an empty alt is no alt."""
    alt = tag.get("alt") if tag is not None else None
    if not alt:
        return None
    return " ".join(alt.split()) or None


def _img(tag: Tag, found: _Found) -> None:
    """The <img> of a <picture> also gives its alt to the picture's sources."""
    alt = _alt(tag)
    found.image(tag.get("src"), "img", alt)
    for url in srcset_urls(tag.get("srcset", "")):
        found.image(url, "srcset", alt)
    picture = found.picture_of(tag)
    if picture is not None:
        found.picture_alt(picture, alt)


def _source(tag: Tag, found: _Found) -> None:
    """Only a <picture>'s sources are images; <video> sources are not."""
    picture = found.picture_of(tag)
    if picture is None:
        return
    for url in srcset_urls(tag.get("srcset", "")):
        found.picture_source(picture, url)
    found.picture_source(picture, tag.get("src"))


def _lazy(tag: Tag, found: _Found) -> None:
    """Lazy-loading scripts keep the real image in data-* attributes."""
    if tag.name in _NOT_IMAGE_HOSTS or (tag.name == "source" and found.picture_of(tag) is None):
        return
    alt = _alt(tag)
    for name, value in tag.attrs.items():
        if name not in _LAZY_ATTRS:
            continue
        if _LAZY_CSS_RE.search(value):
            urls = css_urls(value)
        else:
            urls = srcset_urls(value) if name.endswith("srcset") else [value]
        for url in urls:
            found.image(url, "lazy", alt)


def _meta(tag: Tag, found: _Found) -> None:
    """Social-card images; robots directives; and refresh redirects, which
    are links to follow."""
    names = {tag.get("property", "").strip().lower(), tag.get("name", "").strip().lower()}
    if not names.isdisjoint(_META_IMAGE_NAMES) or "image" in tag.get("itemprop", "").split():
        found.image(tag.get("content"), "meta")
    elif "robots" in names:
        directives = _ROBOTS_SPLIT_RE.split(tag.get("content", "").lower())
        if not _ROBOTS_NOFOLLOW.isdisjoint(directives):
            found.nofollow_page()
    elif tag.get("http-equiv", "").strip().lower() == "refresh":
        found.link(_refresh_target(tag.get("content", "")))


def _refresh_target(content: str) -> str | None:
    """The URL of a <meta http-equiv=refresh> content such as "0; url='x'"."""
    match = _REFRESH_RE.match(content)
    if match is None:
        return None
    url, quote = match.group("url"), match.group("quote")
    return url.partition(quote)[0] if quote else url


def _link(tag: Tag, found: _Found) -> None:
    """Icons, image_src, and images the page asks to preload."""
    rels = set(tag.get("rel", "").lower().split())
    preload = "preload" in rels and tag.get("as", "").strip().lower() == "image"
    if not (preload or rels & _ICON_RELS):
        return
    found.image(tag.get("href"), "link")
    for url in srcset_urls(tag.get("imagesrcset", "")):
        found.image(url, "link")


def _input(tag: Tag, found: _Found) -> None:
    """Only an image button shows an image; other inputs' src means nothing."""
    if tag.get("type", "").strip().lower() == "image":
        found.image(tag.get("src"), "input", _alt(tag))


def _video(tag: Tag, found: _Found) -> None:
    """The poster is a still image; the video itself is not collected."""
    found.image(tag.get("poster"), "poster")


def _svg_image(tag: Tag, found: _Found) -> None:
    """lxml's HTML parser keeps the "xlink:href" attribute name as written."""
    found.image(tag.get("href") or tag.get("xlink:href"), "svg")


def _anchor(tag: Tag, found: _Found) -> None:
    """Only <a> and <area> lead to pages; other hrefs name resources."""
    rel = tag.get("rel", "").lower()
    follow = "nofollow" not in rel or "nofollow" not in _REL_SPLIT_RE.split(rel)
    found.link(tag.get("href"), follow)


def _stylesheet(tag: Tag, found: _Found) -> None:
    """A <style> element's images; css_urls leaves out fonts and imports."""
    for url in css_urls(tag.get_text()):
        found.image(url, "style")


_VISITORS: dict[str, Callable[[Tag, _Found], None]] = {
    "img": _img, "source": _source, "meta": _meta, "link": _link, "input": _input,
    "video": _video, "image": _svg_image, "a": _anchor, "area": _anchor, "style": _stylesheet,
}
