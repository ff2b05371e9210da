"""Hypothesis strategies for the fuzz tests.

References as pages write them (relative, absolute, odd hosts, schemes
that are no images, stray whitespace and non-ASCII), srcset and CSS values
built from them, and HTML documents made of realistic pieces, each document
together with the raw references extract() must find in it and their kinds.
The expectations are the README's image rules; the documents keep to markup
whose meaning is not in doubt, so the robustness tests mutate them into
broken markup separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

from hypothesis import strategies as st

from common.urls import normalize

ASCII_WHITESPACE = "\t\n\x0c\r "

# Page URLs are canonical (the crawler only fetches normalised URLs).
PAGE_URLS = st.sampled_from([
    "http://site.test/dir/page.html",
    "https://www.example.com/",
    "http://[2001:db8::1]:8080/a/b?x=1",
    "https://xn--bcher-kva.example/caf%C3%A9/index.html?q=%20",
])

# Text that an HTML parser reads back as written: other controls are
# replaced or dropped by parsers (that is the robustness tests' business).
_model_chars = st.characters(
    codec="utf-8", exclude_categories=("Cc",), exclude_characters="\ufffe\uffff"
) | st.sampled_from("\t\n\x0c ")
_PREFIXES = (
    "", "/", "./", "../", "../../", "//cdn.test/", "http://site.test/",
    "HTTPS://CDN.Example.COM:443/", "http://bücher.example/", "https://[2001:db8::2]:8443/",
    "http://user:pa%20ss@site.test/", "http://xn--n3h.test/", "http://a_b.test/",
    "http://127.0.0.1:8080/", "http:relative/", "https:/one-slash/",
)
_SEGMENT_PARTS = st.sampled_from(
    list("abcxyz0129._-~!$&'()*+,;=@%:") + ["ä", "é", "画", " ", "\u00a0", "\\", "%2e", "%41"]
)
_segments = st.lists(_SEGMENT_PARTS, min_size=1, max_size=6).map("".join)
_QUERY_PARTS = st.sampled_from(list("ab1=&+%'\"<>?/ ,") + ["ä", "%zz"])
_queries = st.lists(_QUERY_PARTS, max_size=8).map("".join)
# Whole references that exercise one rule each.
_ODD_REFERENCES = (
    "", " ", "#", "#top", "?", "?#", ".", "..", "...", "data:image/gif;base64,R0lGODlh",
    "javascript:void(0)", " JavaScript:alert(1)", "mailto:a@site.test", "tel:123",
    "ftp://site.test/a.png", "blob:https://site.test/1", "about:blank", "http://", "https://",
    "http://[::1", "http://[2606:4700::1111]/x.png", "http://h:99999/", "http://%zz/",
    "http://a..b/x", "http://☃.net/", "http://ＦＵＬＬ.test/", "http://exa mple.com/",
    "/%2e%2e/%2E./a.png", "\\\\cdn.test\\a.png", "http:\\\\site.test\\a.png",
    "\t/a\n.png\x0c", "http://site.test:80/a.png", "https://site.test:443/a.png#x",
    "HTTP://SITE.TEST/A.PNG", "http://user@site.test/", "http://site.test/a?b#c?d",
)


def _reference(prefix: str, segments: list[str], query: str | None, fragment: str | None) -> str:
    return (prefix + "/".join(segments) + ("" if query is None else "?" + query)
            + ("" if fragment is None else "#" + fragment))


_built_references = st.builds(
    _reference,
    st.sampled_from(_PREFIXES),
    st.lists(_segments, min_size=1, max_size=4),
    st.none() | _queries,
    st.none() | st.text(_model_chars, max_size=4),
)
references = st.one_of(
    _built_references, st.sampled_from(_ODD_REFERENCES), st.text(_model_chars, max_size=20)
)
# Thousands to a hundred thousand characters: pages carry inline data and
# generated URLs that long.
_huge_texts = st.builds(
    lambda segment, count: segment * count, _segments, st.integers(1_000, 20_000)
)

# --- srcset ----------------------------------------------------------------

# (descriptors, whether the HTML standard keeps the candidate)
_DESCRIPTORS = st.sampled_from([
    ("", True), ("1x", True), ("2x", True), ("1.5x", True), ("100w", True), ("640w", True),
    ("100w 50h", True), (".5e1x", True), ("0x", True), ("50h", False), ("foo", False),
    ("100w 2x", False), ("1x 1x", False), ("1X", False), ("0w", False), ("-1x", False),
    ("1.x", False), ("(min-width: 1px, 2px) 1x", False),
])
_SPACE = st.text(st.sampled_from(ASCII_WHITESPACE), max_size=3)
_SOME_SPACE = st.text(st.sampled_from(ASCII_WHITESPACE), min_size=1, max_size=3)
_COMMAS = st.text(st.sampled_from(", \n"), max_size=4)
# A candidate's URL has no ASCII white space and does not start or end with a
# comma (a trailing comma is the separator); it may have commas inside.
_srcset_candidate_urls = references.map(
    lambda ref: "".join(c for c in ref if c not in ASCII_WHITESPACE).strip(",")
).filter(bool)


@st.composite
def srcsets(draw) -> tuple[str, list[str]]:
    """A srcset value as authors write it (with or without descriptors, valid
    or not, separators with any white space and extra commas) and the URLs
    of the candidates the standard keeps.  A URL with no descriptor needs
    white space before its comma, or the comma would be part of the URL."""
    candidates = draw(st.lists(st.tuples(_srcset_candidate_urls, _DESCRIPTORS), max_size=5))
    parts = [draw(_COMMAS)]
    for i, (url, (descriptor, _)) in enumerate(candidates):
        parts.append(url)
        if descriptor:
            parts.append(draw(_SOME_SPACE) + descriptor)
        if i < len(candidates) - 1:
            lead = draw(_SPACE) if descriptor else draw(_SOME_SPACE)
            parts.append(lead + "," + draw(_COMMAS))
    parts.append(draw(_SPACE) + draw(_COMMAS))
    return "".join(parts), [url for url, (_, valid) in candidates if valid]


# --- CSS -------------------------------------------------------------------

_PLAIN_DECLARATIONS = st.sampled_from([
    "color: red", "margin:0 auto", "font: 12px/1.5 'Helvetica Neue', serif", 'content: "x"',
    "background-color:#fff", "width: calc(100% - (2 * 1em))", "--var: (a)", "filter: blur(2px)",
])
_CSS_PROPERTIES = st.sampled_from(
    ["background", "background-image", "BACKGROUND-IMAGE", "list-style", "cursor", "content",
     "border-image", "mask"]
)


def _unquoted_css_url(ref: str) -> bool:
    return not re.search(r"[\"'()\\\s]", ref)


def _css_escape(text: str, chars: str) -> str:
    """CSS hex escapes of those of `chars` in `text`; the space after one
    ends it, so a hex digit may follow."""
    return "".join(f"\\{ord(c):x} " if c in chars else c for c in text)


_css_references = references


@st.composite
def css_url_tokens(draw, refs=_css_references) -> tuple[str, str]:
    """One url(...) or image-set() as written, and the URL in it: unquoted
    when the URL allows, else in either quote, with the quote, backslashes
    and line breaks escaped as CSS needs, and sometimes more characters
    escaped, or the name spelled with an escape, as CSS allows."""
    ref = draw(refs)
    extra = draw(st.sampled_from(["", "a", "./", "é"]))
    quote = draw(st.sampled_from(['"', "'"] + ([""] if _unquoted_css_url(ref) else [])))
    written = _css_escape(ref, extra + (quote + "\\\n\r\x0c" if quote else ""))
    if quote and draw(st.booleans()):
        name = draw(st.sampled_from(["image-set(", "-webkit-image-set(", "IMAGE-SET("]))
        return f"{name}{draw(_SPACE)}{quote}{written}{quote} 1x{draw(_SPACE)})", ref
    name = draw(st.sampled_from(["url(", "URL(", "Url(", "u\\72l(", "\\55 RL("]))
    return f"{name}{draw(_SPACE)}{quote}{written}{quote}{draw(_SPACE)})", ref


@st.composite
def css_declarations(draw, refs=_css_references) -> tuple[str, list[str]]:
    """Declarations for a style attribute or a rule, with the URLs that
    css_urls must return, in order; url() with only white space is none."""
    text, urls = [], []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            text.append(draw(_PLAIN_DECLARATIONS))
            continue
        tokens = draw(st.lists(css_url_tokens(refs), min_size=1, max_size=2))
        value = ", ".join(token for token, _ in tokens)
        suffix = draw(st.sampled_from(["", " no-repeat", " !important"]))
        text.append(f"{draw(_CSS_PROPERTIES)}:{draw(_SPACE)}{value}{suffix}")
        urls.extend(url for _, url in tokens if url.strip(ASCII_WHITESPACE))
    return draw(st.sampled_from([";", "; ", ";\n"])).join(text), urls


# A <style> element's text ends at "</style", whatever the CSS says.
_stylesheet_references = _css_references.filter(
    lambda r: not re.search(r"</style", r, re.IGNORECASE)
)
_NON_IMAGE_RULES = st.sampled_from([
    "/* .old { background: url(old.png) } */", "@import url(print.css) print;",
    "@import 'x.css';", "@font-face { font-family: F; src: url(f.woff2) format('woff2') }",
])


@st.composite
def stylesheets(draw) -> tuple[str, list[str]]:
    """The text of a <style> element and the image URLs in it, in order; an
    unclosed comment can only come last, since it runs to the end."""
    text, urls = [], []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            text.append(draw(_NON_IMAGE_RULES))
            continue
        declarations, found = draw(css_declarations(_stylesheet_references))
        selector = draw(st.sampled_from([".hero", "body>div", "#x", "@media (min-width: 1px) { a"]))
        closing = " }" if selector.startswith("@media") else ""
        text.append(f"{selector} {{ {declarations} }}{closing}")
        urls.extend(found)
    if draw(st.booleans()):
        text.append("/* an unclosed comment runs to the end: url(never.png)")
    return "\n".join(text), urls


# --- HTML ------------------------------------------------------------------


@dataclass
class Piece:
    """Markup as tokens (any boundary between two tokens is a place where an
    element may be inserted), the (raw reference, kind) pairs of the images
    in it and the (raw reference, followable) pairs of its links, both in
    document order, and whether a robots meta in it says nofollow."""

    tokens: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, bool]] = field(default_factory=list)
    robots_nofollow: bool = False

    def add(self, other: Piece) -> None:
        self.tokens += other.tokens
        self.images += other.images
        self.links += other.links
        self.robots_nofollow |= other.robots_nofollow


@dataclass
class Document:
    """A page: head and body pieces, and the <base href> it declares, if any."""

    head: Piece
    body: Piece
    base_href: str | None

    def html(self, body_tokens: list[str] | None = None, wrap: str = "") -> str:
        body = "".join(self.body.tokens if body_tokens is None else body_tokens)
        if wrap:
            body = f"<{wrap}>{body}</{wrap}>"
        return ("<!DOCTYPE html>\n<html><head>" + "".join(self.head.tokens)
                + f"</head><body>{body}</body></html>")

    def base(self, page_url: str) -> str:
        """The first <base href>, unless unusable, as browsers take it."""
        if self.base_href is None:
            return page_url
        return normalize(self.base_href, page_url) or page_url

    def expected_images(self, page_url: str) -> dict[str, set[str]]:
        """What extract() must find: URL -> kinds."""
        images: dict[str, set[str]] = {}
        base = self.base(page_url)
        for raw, kind in self.head.images + self.body.images:
            url = expected_url(raw, base)
            if url is not None:
                images.setdefault(url, set()).add(kind)
        return images

    def expected_links(self, page_url: str) -> tuple[list[str], list[str]]:
        """The followable and the nofollow links extract() must find, each
        once, in document order: a URL is followable if one of its links
        is, and none is under a robots nofollow."""
        base, follow = self.base(page_url), {}
        for raw, followable in self.head.links + self.body.links:
            if (url := expected_url(raw, base)) is not None:
                follow[url] = followable or follow.get(url, False)
        if self.head.robots_nofollow or self.body.robots_nofollow:
            return [], list(follow)
        return ([url for url, f in follow.items() if f],
                [url for url, f in follow.items() if not f])


def expected_url(raw: str, base: str) -> str | None:
    """The README's rule: a blank or fragment-only value points back at the
    page, never at an image or a new page; anything else is resolved and
    kept if it is a crawlable http(s) URL."""
    text = raw.strip(ASCII_WHITESPACE)
    if not text or text.startswith("#"):
        return None
    return normalize(text, base)


def _case(draw, name: str) -> str:
    """Tag and attribute names are case-insensitive in HTML."""
    return draw(st.sampled_from([name, name.upper(), name.capitalize()]))


_UNQUOTED_RE = re.compile(r"[A-Za-z0-9._~:/?%+,;@!$*-]*[A-Za-z0-9._~:?%+,;@!$*-]")


def _attribute(draw, name: str, value: str) -> str:
    """ name="value", quoted or not as the value allows, entities escaped."""
    quotes = ['"', "'"] + ([""] if _UNQUOTED_RE.fullmatch(value) else [])
    quote = draw(st.sampled_from(quotes))
    escaped = escape(value, quote=False)
    if quote:
        escaped = escaped.replace(quote, f"&#{ord(quote)};")
    return f" {_case(draw, name)}={quote}{escaped}{quote}"


def _tag(draw, name: str, attributes: list[tuple[str, str]]) -> str:
    return "<" + _case(draw, name) + "".join(_attribute(draw, n, v) for n, v in attributes) + ">"


_texts = st.text(_model_chars, max_size=12)
_alts = st.none() | _texts


@st.composite
def _img(draw) -> Piece:
    """<img> with any of src, srcset, data-src, data-srcset, style, alt."""
    piece, attributes = Piece(), []
    if draw(st.booleans()):
        src = draw(references)
        attributes.append(("src", src))
        piece.images.append((src, "img"))
    if draw(st.booleans()):
        srcset, urls = draw(srcsets())
        attributes.append(("srcset", srcset))
        piece.images += [(url, "srcset") for url in urls]
    if draw(st.booleans()):
        lazy = draw(references.filter(lambda r: not _LAZY_CSS_RE.search(r)))
        attributes.append(("data-src", lazy))
        piece.images.append((lazy, "lazy"))
    if draw(st.booleans()):
        srcset, urls = draw(srcsets().filter(lambda s: not _LAZY_CSS_RE.search(s[0])))
        attributes.append(("data-srcset", srcset))
        piece.images += [(url, "lazy") for url in urls]
    if draw(st.booleans()):
        style, urls = draw(css_declarations())
        attributes.append(("style", style))
        piece.images += [(url, "style") for url in urls]
    if (alt := draw(_alts)) is not None:
        attributes.append(("alt", alt))
    attributes += draw(st.sampled_from([[], [("loading", "lazy")], [("width", "300")]]))
    draw(st.randoms()).shuffle(attributes)
    piece.tokens.append(_tag(draw, "img", attributes))
    return piece


@st.composite
def _picture(draw) -> Piece:
    """<picture>: sources (srcset or src) whose kind is "picture", then its <img>."""
    piece = Piece(tokens=[_tag(draw, "picture", [])])
    for _ in range(draw(st.integers(0, 3))):
        attributes = [("type", draw(st.sampled_from(["image/avif", "image/webp"])))]
        if draw(st.booleans()):
            srcset, urls = draw(srcsets())
            attributes.append(("srcset", srcset))
            piece.images += [(url, "picture") for url in urls]
        else:
            src = draw(references)
            attributes.append(("src", src))
            piece.images.append((src, "picture"))
        piece.tokens.append(_tag(draw, "source", attributes))
    piece.add(draw(_img()))
    piece.tokens.append("</picture>")
    return piece


_SINGLE_URL_ELEMENTS = (
    ("link", "href", [("rel", "icon")], "link"),
    ("link", "href", [("rel", "Shortcut Icon")], "link"),
    ("link", "href", [("rel", "apple-touch-icon")], "link"),
    ("link", "href", [("rel", "preload"), ("as", "image")], "link"),
    ("link", "href", [("rel", "stylesheet")], None),
    ("meta", "content", [("property", "og:image")], "meta"),
    ("meta", "content", [("name", "twitter:image")], "meta"),
    ("meta", "content", [("itemprop", "image")], "meta"),
    ("meta", "content", [("name", "description")], None),
    ("input", "src", [("type", "image")], "input"),
    ("input", "src", [("type", "text")], None),
    ("video", "poster", [("controls", "")], "poster"),
    ("a", "href", [], "follow"),
    ("area", "href", [("alt", "x")], "follow"),
)
_HEAD_ELEMENTS = tuple(e for e in _SINGLE_URL_ELEMENTS if e[0] in ("link", "meta"))


@st.composite
def _single_url_element(draw, variants=_SINGLE_URL_ELEMENTS) -> Piece:
    """The elements that carry one image URL (of a kind) or link URL
    ("follow") in one attribute, and <link> a srcset too; those of other
    types or rels carry none."""
    element, attribute, extra, kind = draw(st.sampled_from(variants))
    value = draw(references)
    attributes = [*extra, (attribute, value)]
    draw(st.randoms()).shuffle(attributes)
    piece = Piece(tokens=[_tag(draw, element, attributes)])
    if kind == "follow":
        rel = draw(_RELS)
        if rel:
            piece.tokens[0] = piece.tokens[0][:-1] + _attribute(draw, "rel", rel) + ">"
        piece.links.append((value, "nofollow" not in rel.lower().split()))
    elif kind is not None:
        piece.images.append((value, kind))
    if element == "link" and kind is not None and draw(st.booleans()):
        srcset, urls = draw(srcsets())
        piece.tokens[0] = piece.tokens[0][:-1] + _attribute(draw, "imagesrcset", srcset) + ">"
        piece.images += [(url, "link") for url in urls]
    if element == "video":
        piece.tokens += ['<source src="/v/intro.mp4" data-src="/v/x.mp4">', "</video>"]
    elif element == "a":
        piece.tokens += [escape(draw(_texts)), "</a>"]
    elif element == "area":
        piece.tokens = ["<map>", *piece.tokens, "</map>"]
    return piece


_RELS = st.sampled_from(["", "", "nofollow", "noopener NoFollow", "noopener", "nofollowx"])
_ROBOTS = st.sampled_from([
    ("nofollow", True), ("noindex, NOFOLLOW", True), ("none", True), ("noindex", False),
    ("index, follow", False), ("max-snippet:-1", False),
])


@st.composite
def _robots(draw) -> Piece:
    """<meta name=robots>: nofollow or none makes every link of the page nofollow."""
    content, nofollow = draw(_ROBOTS)
    tag = _tag(draw, "meta", [("name", draw(st.sampled_from(["robots", "ROBOTS"]))),
                              ("content", content)])
    return Piece(tokens=[tag], robots_nofollow=nofollow)


@st.composite
def _svg_image(draw) -> Piece:
    """SVG <image> by href or xlink:href."""
    value = draw(references)
    name = draw(st.sampled_from(["href", "xlink:href"]))
    return Piece(tokens=["<svg>", _tag(draw, "image", [(name, value)]), "</image>", "</svg>"],
                 images=[(value, "svg")])


@st.composite
def _refresh(draw) -> Piece:
    """<meta http-equiv=refresh>: its URL is a link to follow."""
    value = draw(references).replace("'", "%27")
    content = f"{draw(st.sampled_from(['0', '5', ' 1.5 ']))}; url='{value}'"
    return Piece(tokens=[_tag(draw, "meta", [("http-equiv", "refresh"), ("content", content)])],
                 links=[(value, True)])


@st.composite
def _style_element(draw) -> Piece:
    css, urls = draw(stylesheets())
    return Piece(tokens=[f"<style>{css}</style>"], images=[(url, "style") for url in urls])


_FAKE_IMG = '<img src="/not-an-image.png">'
_inert = st.sampled_from([
    f"<!-- {_FAKE_IMG} -->", f"<script>document.write('{_FAKE_IMG}')</script>",
    f"<textarea>{_FAKE_IMG}</textarea>", "<p>&lt;img src=x.png&gt; text</p>", "<br>", "<hr>",
    "<p>", "\n", " ", "&nbsp;", "&amp;", "<span>x</span>", "<source srcset='/outside.png'>",
    "<iframe data-src='/frame.html'></iframe>",
]) | _texts.map(escape)


# A lazy attribute is read as CSS when it spells one of these, unescaped.
_LAZY_CSS_RE = re.compile(r"url\(|image-set\(", re.IGNORECASE)


@st.composite
def _lazy_element(draw) -> Piece:
    """A non-image element carrying a lazy-loading attribute: one URL, or
    url(...) for the background kind."""
    name = draw(st.sampled_from(
        ["data-src", "data-original", "data-bg", "data-background-image", "data-lazy-src"]
    ))
    if draw(st.booleans()):
        value = url = draw(references.filter(lambda r: not _LAZY_CSS_RE.search(r)))
    else:
        value, url = draw(css_url_tokens().filter(
            lambda token: token[1].strip(ASCII_WHITESPACE) and _LAZY_CSS_RE.match(token[0])))
    element = draw(st.sampled_from(["div", "section", "span"]))
    return Piece(tokens=[_tag(draw, element, [(name, value)]), f"</{element}>"],
                 images=[(url, "lazy")])


@st.composite
def _huge_img(draw) -> Piece:
    """<img> with a huge src, alt and srcset (hundreds to thousands of
    candidates), as generated pages and inline data make them."""
    src = "/" + draw(_huge_texts)
    count = draw(st.integers(100, 3_000))
    candidates = [f"/{i}.png" for i in range(count)]
    srcset = ", ".join(f"{url} {i + 1}w" for i, url in enumerate(candidates))
    attributes = [("src", src), ("srcset", srcset), ("alt", draw(_huge_texts))]
    return Piece(tokens=[_tag(draw, "img", attributes)],
                 images=[(src, "img"), *((url, "srcset") for url in candidates)])


def _wrapper(children):
    """A container (with, sometimes, a style or a link of its own) around
    other pieces; only what the container itself carries is added."""

    @st.composite
    def wrapper(draw) -> Piece:
        element = draw(st.sampled_from(["div", "span", "section", "noscript", "a", "ul"]))
        piece, attributes = Piece(), []
        if element == "a":
            href = draw(references)
            attributes.append(("href", href))
            rel = draw(_RELS)
            if rel:
                attributes.append(("rel", rel))
            piece.links.append((href, "nofollow" not in rel.lower().split()))
        if draw(st.booleans()):
            style, urls = draw(css_declarations())
            attributes.append(("style", style))
            piece.images += [(url, "style") for url in urls]
        piece.tokens.append(_tag(draw, element, attributes))
        for child in draw(st.lists(children, max_size=3)):
            piece.add(child)
        piece.tokens.append(f"</{element}>")
        return piece

    return wrapper()


_leaf_pieces = st.one_of(
    _img(), _picture(), _single_url_element(), _svg_image(), _lazy_element(), _huge_img(),
    _inert.map(lambda text: Piece(tokens=[text])),
)
body_pieces = st.recursive(_leaf_pieces, _wrapper, max_leaves=8)


@st.composite
def documents(draw) -> Document:
    """A page: an optional <base href>, head elements, and body pieces."""
    head = Piece(tokens=['<meta charset="utf-8">', "<title>&lt;img src=t.png&gt;</title>"])
    base_href = draw(st.none() | references)
    if base_href is not None:
        head.tokens.append(_tag(draw, "base", [("href", base_href)]))
    head_pieces = _single_url_element(_HEAD_ELEMENTS) | _refresh() | _style_element() | _robots()
    for part in draw(st.lists(head_pieces, max_size=3)):
        head.add(part)
    body = Piece()
    for part in draw(st.lists(body_pieces | _style_element(), max_size=6)):
        body.add(part)
    return Document(head, body, base_href)


# --- broken markup -----------------------------------------------------------

_JUNK = st.sampled_from([
    "<", ">", "</", '"', "'", "=", "&", "&#", "&#x;", "&amp", "<!--", "-->", "<![CDATA[", "]]>",
    "<?xml version='1.0'?>", "<!DOCTYPE", "<img", "<img src=", "<picture>", "</picture>",
    "<source srcset=", "<base href=", "<style>", "</style>", "url(", ")", "<script>",
    "<plaintext>", "<textarea>", "<svg>", "<math>", "<table><tr>", "</td>", "\x00", "\ufeff",
    "\ud800", "\udfff", "\r", "\x0b", "\x85", "\u2028", "\ufffe", " srcset='a.png 1x,", "data:,",
    "javascript:", "<a href=", "<meta http-equiv=refresh content='0;url=", "<html>", "<body>",
    "<head>", "</html>", "<frameset>", "<template>", "<noscript>", "\\", "%", "#",
])


@st.composite
def broken_markup(draw) -> str:
    """A well-formed document cut short, with junk spliced in and parts cut out."""
    html = draw(documents()).html()
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(html)))
        action = draw(st.sampled_from(["junk", "cut", "truncate"]))
        if action == "junk":
            html = html[:at] + draw(_JUNK) + html[at:]
        elif action == "cut":
            html = html[:at] + html[at + draw(st.integers(1, 20)):]
        else:
            html = html[:at]
    return html


# Markup-like token soup, surrogates included, for the never-raises tests.
markup_soup = st.lists(
    _JUNK | _inert | st.sampled_from(["a.png", " 1x", ", ", "http://h/", "og:image", "icon",
                                      "style=", "data-src=", " ", "\n"])
    | st.text(st.characters(exclude_categories=()), max_size=5),
    max_size=40,
).map("".join)
