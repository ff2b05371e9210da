"""Unit tests for worker.extract: decoding, HTML sniffing, images, links and
nofollow links (the srcset and CSS readers have their own files)."""

import codecs
from html import escape

import pytest

from worker.css import css_urls
from worker.decoding import decode_html, is_html
from worker.extract import KINDS, Image, Page, extract
from worker.parse_child import summarize
from worker.srcset import srcset_urls

PAGE = "http://site.test/dir/page.html"


def images(html, page_url=PAGE):
    """Image URL -> sorted kinds, the shape most assertions want."""
    return {url: sorted(image.kinds) for url, image in extract(html, page_url).images.items()}


def realistic_page() -> str:
    """A ~14 KB article page with 30 distinct images of the common kinds."""
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Spring recipes - Example Kitchen</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta property="og:image" content="https://cdn.kitchen.test/og/spring.jpg">'
        '<meta name="twitter:image" content="https://cdn.kitchen.test/tw/spring.jpg">'
        '<link rel="icon" href="/favicon.ico"><link rel="apple-touch-icon" href="/touch.png">'
        '<link rel="stylesheet" href="/css/site.css"><link rel="canonical" href="/recipes/spring">'
        "<style>.hero{background-image:url(/img/hero.jpg)}body{margin:0;font:16px/1.5 serif}"
        ".card{border:1px solid #ddd;padding:8px}</style>"
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
        "gtag('js',new Date());gtag('config','UA-000000-1');" + "var x=1;" * 150 + "</script>"
        "</head>"
    )
    nav = "".join(
        f'<li class="nav-item"><a class="nav-link" href="/section/{i}">Section {i}</a></li>'
        for i in range(25)
    )
    cards = "".join(
        f'<div class="card"><a href="/recipes/{i}"><img src="/img/thumbs/{i}.jpg" '
        + (f'srcset="/img/thumbs/{i}.jpg 1x, /img/thumbs/{i}@2x.jpg 2x" ' if i < 2 else "")
        + f'alt="Recipe {i}" width="300" height="200" loading="lazy"></a>'
        f'<h3><a href="/recipes/{i}">Recipe number {i}</a></h3><p>A short description of '
        f"recipe {i} with seasonal vegetables, fresh herbs, olive oil and a little lemon. "
        "Ready in thirty minutes and good for a weeknight dinner with friends.</p></div>"
        for i in range(15)
    )
    extras = (
        '<picture><source srcset="/img/feature.avif" type="image/avif">'
        '<source srcset="/img/feature.webp" type="image/webp">'
        '<img src="/img/feature.jpg" alt="Feature"></picture>'
        '<div class="hero" style="background-image:url(\'/img/banner.jpg\')"></div>'
        '<img class="lazyload" data-src="/img/lazy1.jpg" src="data:image/gif;base64,R0lGODlh">'
        '<img class="lazyload" data-src="/img/lazy2.jpg" src="data:image/gif;base64,R0lGODlh">'
        '<video poster="/img/video-poster.jpg" controls><source src="/v/intro.mp4"></video>'
        '<svg width="20" height="20"><image href="/img/icon.svg"></image></svg>'
    )
    intro = "".join(
        f"<p>Paragraph {i} of the introduction: spring brings asparagus, peas, radishes, "
        "wild garlic and the first strawberries, and this collection shows how to use them "
        "in quick, bright dishes that need little more than a hot pan and good bread.</p>"
        for i in range(12)
    )
    footer = "".join(f'<a href="https://partner{i}.test/">Partner {i}</a> ' for i in range(15))
    return (
        f'{head}<body><header><nav><ul class="nav">{nav}</ul></nav></header>'
        f"<main><article><h1>Spring recipes</h1>{intro}{cards}{extras}</article></main>"
        f"<footer>{footer}<p>&copy; Example Kitchen</p></footer></body></html>"
    )


def test_kinds_constant():
    assert KINDS == (
        "img", "srcset", "picture", "lazy", "style", "meta", "link", "input", "poster", "svg",
    )


def test_result_types_are_frozen():
    page = extract('<img src="a.png" alt="A"><a href="/x">x</a>', PAGE)
    assert isinstance(page, Page)
    assert page.images == {"http://site.test/dir/a.png": Image(("img",), "A")}
    assert page.links == ["http://site.test/x"]
    with pytest.raises(AttributeError):
        page.links = []  # type: ignore[misc]


def test_img_src():
    assert images('<img src="a.png"><IMG SRC="/b.png">') == {
        "http://site.test/dir/a.png": ["img"],
        "http://site.test/b.png": ["img"],
    }


def test_img_srcset_descriptors_and_commas_in_urls():
    html = (
        '<img srcset="image.jpg?a=1,2 1x, other.jpg 2x, '
        'https://cdn.test/w_100,h_50/pic.jpg 100w,last.jpg 3x">'
    )
    assert images(html) == {
        "http://site.test/dir/image.jpg?a=1,2": ["srcset"],
        "http://site.test/dir/other.jpg": ["srcset"],
        "https://cdn.test/w_100,h_50/pic.jpg": ["srcset"],
        "http://site.test/dir/last.jpg": ["srcset"],
    }


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.jpg", ["a.jpg"]),
        ("a.jpg 1x, b.jpg 2x", ["a.jpg", "b.jpg"]),
        ("a.jpg 1x,b.jpg 2x", ["a.jpg", "b.jpg"]),
        ("a.jpg,b.jpg", ["a.jpg,b.jpg"]),
        ("a.jpg, b.jpg", ["a.jpg", "b.jpg"]),
        ("a.jpg,, b.jpg 2x ,,c.jpg", ["a.jpg", "b.jpg", "c.jpg"]),
        ("a.jpg (min-width: 1px, max-width: 2px) 1x, b.jpg 2x", ["b.jpg"]),
        ("a.jpg (unclosed, paren", []),
        ("\n  a.jpg 100w,\n  b.jpg 200w\n", ["a.jpg", "b.jpg"]),
        ("a.jpg 100w 50h, b.jpg 1.5x, c.jpg .5e1x, d.jpg -0x",
         ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]),
        ("a.jpg foo, b.jpg 1x 1x, c.jpg 1X, d.jpg 0w, e.jpg 50h, f.jpg 1x", ["f.jpg"]),
        ("a.jpg 1e400x, b.jpg 1.x, c.jpg +1x, d.jpg 1w 1x, e.jpg 1\u00a0x", []),
        ("a.jpg 1\x0bx", []),
        ("a.jpg\x0b1x", ["a.jpg\x0b1x"]),
        ("a.jpg " + "9" * 5000 + "w", ["a.jpg"]),
        ("", []),
        (" , ,", []),
    ],
)
def test_srcset_parsing(srcset, expected):
    """The HTML standard's splitting and descriptor parsing (the WPT cases
    are in test_srcset_wpt.py): a candidate with a descriptor the standard
    rejects is no candidate."""
    assert srcset_urls(srcset) == expected


def test_picture_sources_get_the_img_alt():
    html = (
        '<picture><source srcset="a.avif 1x, a2.avif 2x" type="image/avif">'
        '<source src="b.webp"><img src="c.jpg" alt="A cat"></picture>'
    )
    page = extract(html, PAGE)
    assert {url: (sorted(i.kinds), i.alt) for url, i in page.images.items()} == {
        "http://site.test/dir/a.avif": (["picture"], "A cat"),
        "http://site.test/dir/a2.avif": (["picture"], "A cat"),
        "http://site.test/dir/b.webp": (["picture"], "A cat"),
        "http://site.test/dir/c.jpg": (["img"], "A cat"),
    }


def test_video_and_audio_sources_are_not_images():
    html = '<video><source src="v.mp4"></video><audio><source src="a.ogg" data-src="x"></audio>'
    assert images(html) == {}


@pytest.mark.parametrize(
    "attribute",
    [
        "data-src", "data-lazy-src", "data-original", "data-original-src",
        "data-hi-res-src", "data-fallback-src", "data-bg", "data-background",
    ],
)
def test_lazy_single_url_attributes(attribute):
    assert images(f'<div {attribute}="lazy.jpg"></div>') == {
        "http://site.test/dir/lazy.jpg": ["lazy"]
    }


def test_lazy_srcset_and_css_attributes():
    html = (
        '<img data-srcset="a.jpg 1x, b.jpg 2x" data-lazy-srcset="c.jpg 100w">'
        "<section data-background-image=\"url('d.jpg')\" data-bg=\"url(e.jpg)\"></section>"
    )
    assert images(html) == {
        "http://site.test/dir/a.jpg": ["lazy"],
        "http://site.test/dir/b.jpg": ["lazy"],
        "http://site.test/dir/c.jpg": ["lazy"],
        "http://site.test/dir/d.jpg": ["lazy"],
        "http://site.test/dir/e.jpg": ["lazy"],
    }


def test_lazy_attributes_of_frames_and_scripts_are_not_images():
    html = '<iframe data-src="/embed"></iframe><script data-src="/x.js"></script>'
    assert images(html) == {}


def test_lazy_img_with_placeholder():
    html = '<img src="data:image/gif;base64,R0lGODlh" data-src="real.jpg" alt="Real">'
    page = extract(html, PAGE)
    assert page.images == {"http://site.test/dir/real.jpg": Image(("lazy",), "Real")}


def test_inline_style_urls():
    html = (
        "<div style=\"background-image: url('a.png')\"></div>"
        '<span style="background: url(&quot;b c.png&quot;) no-repeat, URL( d.png )"></span>'
        '<ul style="list-style-image:url(e.png)"></ul><p style="color: red"></p>'
    )
    assert images(html) == {
        "http://site.test/dir/a.png": ["style"],
        "http://site.test/dir/b%20c.png": ["style"],
        "http://site.test/dir/d.png": ["style"],
        "http://site.test/dir/e.png": ["style"],
    }


def test_style_element_urls_skip_comments_fonts_and_imports():
    html = (
        "<style>/* .x { background: url(comment.png) } */"
        "@import url(other.css); @font-face { src: url(font.woff2) }"
        ".hero { background: url(\"hero.jpg\") } .y { content: url('y.svg') }</style>"
    )
    assert images(html) == {
        "http://site.test/dir/hero.jpg": ["style"],
        "http://site.test/dir/y.svg": ["style"],
    }


def test_css_urls_survive_unclosed_urls():
    """End of input closes strings and functions, as CSS Syntax says."""
    assert css_urls("url(a.png) url('b.png' url(\"c") == ["a.png", "b.png"]
    assert css_urls("url(" * 20000) == []


@pytest.mark.parametrize(
    "meta",
    [
        '<meta property="og:image" content="m.jpg">',
        '<meta property="OG:IMAGE:URL" content="m.jpg">',
        '<meta property="og:image:secure_url" content="m.jpg">',
        '<meta name="twitter:image" content="m.jpg">',
        '<meta name="twitter:image:src" content="m.jpg">',
        '<meta itemprop="image" content="m.jpg">',
    ],
)
def test_meta_images(meta):
    assert images(meta) == {"http://site.test/dir/m.jpg": ["meta"]}


def test_other_meta_is_ignored():
    html = '<meta name="description" content="m.jpg"><meta property="og:url" content="x">'
    assert images(html) == {}


@pytest.mark.parametrize(
    "rel", ["icon", "shortcut icon", "Shortcut Icon", "apple-touch-icon",
            "apple-touch-icon-precomposed", "image_src", "mask-icon"],
)
def test_link_icons(rel):
    assert images(f'<link rel="{rel}" href="/i.png">') == {"http://site.test/i.png": ["link"]}


def test_link_preload_image_and_non_image_links():
    html = (
        '<link rel="preload" as="image" href="hero.jpg" imagesrcset="hero2.jpg 2x">'
        '<link rel="stylesheet" href="s.css"><link rel="preload" as="font" href="f.woff2">'
    )
    assert images(html) == {
        "http://site.test/dir/hero.jpg": ["link"],
        "http://site.test/dir/hero2.jpg": ["link"],
    }


def test_input_image():
    html = '<input type="IMAGE" src="go.png" alt="Go"><input type="text" src="no.png">'
    page = extract(html, PAGE)
    assert page.images == {"http://site.test/dir/go.png": Image(("input",), "Go")}


def test_video_poster():
    assert images('<video poster="p.jpg"></video>') == {"http://site.test/dir/p.jpg": ["poster"]}


def test_svg_image_href_and_xlink_href():
    html = (
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<image xlink:href="a.svg"/><image href="b.png"/></svg>'
    )
    assert images(html) == {
        "http://site.test/dir/a.svg": ["svg"],
        "http://site.test/dir/b.png": ["svg"],
    }


def test_same_image_by_several_kinds_is_merged():
    html = (
        '<meta property="og:image" content="http://site.test/dir/a.png">'
        '<img src="a.png" srcset="a.png 1x, b.png 2x" alt="">'
        '<div style="background:url(/dir/a.png)" data-src="./a.png#frag"></div>'
        '<img src="a.png" alt="First alt"><img src="a.png" alt="Second alt">'
    )
    page = extract(html, PAGE)
    assert list(page.images) == ["http://site.test/dir/a.png", "http://site.test/dir/b.png"]
    assert page.images["http://site.test/dir/a.png"] == Image(
        ("img", "lazy", "meta", "srcset", "style"), "First alt"
    )


def test_alt_whitespace_is_collapsed_and_blank_alt_is_none():
    page = extract('<img src="a.png" alt="  Two \n words "><img src="b.png" alt="   ">', PAGE)
    assert page.images["http://site.test/dir/a.png"].alt == "Two words"
    assert page.images["http://site.test/dir/b.png"].alt is None


def test_base_href_relative_and_absolute():
    assert images('<base href="/static/"><img src="a.png">') == {
        "http://site.test/static/a.png": ["img"]
    }
    assert images('<base href="https://cdn.test/x/"><img src="a.png"><a href="p">p</a>') == {
        "https://cdn.test/x/a.png": ["img"]
    }
    assert extract('<base href="https://cdn.test/x/"><a href="p">p</a>', PAGE).links == [
        "https://cdn.test/x/p"
    ]


def test_first_base_wins_and_unusable_base_is_ignored():
    assert images('<base href="/one/"><base href="/two/"><img src="a.png">') == {
        "http://site.test/one/a.png": ["img"]
    }
    assert images('<base target="_blank"><base href="/one/"><img src="a.png">') == {
        "http://site.test/one/a.png": ["img"]
    }
    assert images('<base href="javascript:x"><img src="a.png">') == {
        "http://site.test/dir/a.png": ["img"]
    }


def test_links_unique_in_document_order():
    html = (
        '<a href="/b">b</a><a href="/a#x">a</a><a href="/b#y">b again</a>'
        '<map><area href="/c" alt="c"></map><a href="https://Other.test:443/d">d</a>'
        '<a href="mailto:x@site.test">m</a><a href="javascript:void(0)">j</a>'
        '<a href="tel:123">t</a><a href="#top">top</a><a href="">self</a><a>none</a>'
    )
    assert extract(html, PAGE).links == [
        "http://site.test/b",
        "http://site.test/a",
        "http://site.test/c",
        "https://other.test/d",
    ]


@pytest.mark.parametrize(
    "content",
    ["0; url=/next", "0;URL='/next'", '5, url="/next"', "0; /next", "  3 ; Url = /next  "],
)
def test_meta_refresh_is_a_link(content):
    html = f'<meta http-equiv="Refresh" content="{escape(content)}">'
    assert extract(html, PAGE).links == ["http://site.test/next"]


def test_meta_refresh_without_url_is_no_link():
    assert extract('<meta http-equiv="refresh" content="30">', PAGE).links == []


def test_data_and_javascript_urls_are_dropped():
    html = (
        '<img src="data:image/png;base64,iVBORw0KGgo=" srcset="javascript:x 1x">'
        '<div style="background:url(data:image/svg+xml;utf8,<svg></svg>)"></div>'
        '<a href="data:text/html,hi">x</a><img src="ftp://site.test/a.png">'
    )
    page = extract(html, PAGE)
    assert page.images == {}
    assert page.links == []


def test_entities_in_urls_are_decoded():
    page = extract('<img src="/a.png?x=1&amp;y=2"><a href="/p?a=1&amp;b=2">p</a>', PAGE)
    assert list(page.images) == ["http://site.test/a.png?x=1&y=2"]
    assert page.links == ["http://site.test/p?a=1&b=2"]


def test_idna_hosts_and_non_ascii_paths():
    html = '<img src="http://bücher.example/bild ä.png"><a href="//faß.de/">x</a>'
    page = extract(html, PAGE)
    assert list(page.images) == ["http://xn--bcher-kva.example/bild%20%C3%A4.png"]
    assert page.links == ["http://xn--fa-hia.de/"]


def test_blank_and_fragment_only_values_are_ignored():
    html = '<img src="   "><img src=""><img src="#"><div data-bg="#fff"></div><img srcset=" ">'
    assert images(html) == {}


def test_text_that_looks_like_markup_is_not_parsed():
    html = (
        "<script>document.write('<img src=\"script.png\">')</script>"
        "<style>/* <img src=\"style.png\"> */</style>"
        "<!-- <img src=\"comment.png\"> --><textarea><img src=\"textarea.png\"></textarea>"
        "<title><img src=\"title.png\"></title><p>&lt;img src=\"text.png\"&gt;</p>"
        '<noscript><img src="noscript.png"></noscript>'
    )
    assert images(html) == {"http://site.test/dir/noscript.png": ["img"]}


def test_malformed_html():
    html = (
        '<html><body><div><p><img src="a.png"<img src="b.png"><table><tr><td>'
        '<a href="/x">unclosed <b><i></b></i><img src=c.png alt=C><div><img src=\'d.png\'>'
        "\x00\x01\ufffd garbage <<<>>> </notatag></p></span>"
    )
    assert set(images(html)) >= {
        "http://site.test/dir/c.png",
        "http://site.test/dir/d.png",
    }
    assert extract(html, PAGE).links == ["http://site.test/x"]


def test_lone_surrogates_do_not_crash():
    page = extract('\ud800<img src="a\udc00.png"><img src="b.png">', PAGE)
    assert "http://site.test/dir/b.png" in page.images


@pytest.mark.parametrize(
    "html", ["", " ", "\n\n", "just text", "<html></html>", "<!doctype html>"]
)
def test_empty_documents(html):
    assert extract(html, PAGE) == Page({}, [])


@pytest.mark.parametrize(
    "opening", ["<div>", '<a href="/n">', '<div style="color:red">', "<span data-src=x.png>"]
)
def test_deep_nesting_does_not_crash(opening):
    depth = 10_000
    closing = "</" + opening[1:].split()[0].rstrip(">") + ">"
    html = opening * depth + '<img src="deep.png">' + closing * depth + '<img src="after.png">'
    page = extract(html, PAGE)
    assert "http://site.test/dir/deep.png" in page.images
    assert "http://site.test/dir/after.png" in page.images


def test_many_sibling_sources_stay_fast():
    sources = '<source srcset="s.webp">' * 20_000
    html = f'<picture>{sources}<img src="i.jpg" alt="I"></picture>'
    page = extract(html, PAGE)
    assert page.images["http://site.test/dir/s.webp"] == Image(("picture",), "I")


def test_realistic_page():
    html = realistic_page()
    assert 13_000 < len(html.encode()) < 15_000
    page = extract(html, "https://www.kitchen.test/recipes/spring")
    assert len(page.images) == 30
    assert len(page.links) == 25 + 15 + 15
    kinds = set().union(*(image.kinds for image in page.images.values()))
    assert kinds == set(KINDS) - {"input"}
    assert page.images["https://www.kitchen.test/img/thumbs/0.jpg"].alt == "Recipe 0"


# --- decoding -------------------------------------------------------------


def test_decode_utf8_bom_beats_header_and_meta():
    body = codecs.BOM_UTF8 + '<meta charset="koi8-r"><p>é</p>'.encode()
    decoded = decode_html(body, "text/html; charset=windows-1252")
    assert decoded == '<meta charset="koi8-r"><p>é</p>'


def test_decode_utf16_bom():
    body = codecs.BOM_UTF16_LE + "<p>é</p>".encode("utf-16-le")
    assert decode_html(body, None) == "<p>é</p>"


def test_decode_http_charset_beats_meta():
    body = '<meta charset="utf-8"><p>é</p>'.encode("windows-1252")
    assert decode_html(body, "text/html; charset=ISO-8859-1") == '<meta charset="utf-8"><p>é</p>'


def test_decode_unknown_http_charset_falls_back_to_meta():
    body = '<meta charset="koi8-r"><p>фото</p>'.encode("koi8-r")
    decoded = decode_html(body, "text/html; charset=bogus-1")
    assert decoded == '<meta charset="koi8-r"><p>фото</p>'


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="shift_jis">',
        '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">',
    ],
)
def test_decode_meta_charset(meta):
    body = f"{meta}<p>画像</p>".encode("shift_jis")
    assert decode_html(body, "text/html").endswith("<p>画像</p>")


def test_decode_meta_utf16_means_utf8():
    body = '<meta charset="utf-16"><p>é</p>'.encode()
    assert decode_html(body, None) == '<meta charset="utf-16"><p>é</p>'


def test_decode_undeclared_utf8_and_legacy_pages():
    assert decode_html("<p>é</p>".encode(), None) == "<p>é</p>"
    assert decode_html("<p>café – ok</p>".encode("windows-1252"), None) == "<p>café – ok</p>"


def test_decode_truncated_utf8_is_still_utf8():
    body = "<p>é €".encode()[:-1]
    assert decode_html(body, None) == "<p>é \ufffd"


def test_decode_never_raises():
    decoded = decode_html(b"<p>\xff\xfe\xfa</p>", "text/html; charset=utf-8")
    assert decoded == "<p>\ufffd\ufffd\ufffd</p>"
    assert decode_html(b"", None) == ""
    assert decode_html(b"\x81\x8d", "text/html; charset=windows-1252") == "\ufffd\ufffd"


@pytest.mark.parametrize(
    ("encoding", "declaration", "path", "expected"),
    [
        ("windows-1252", '<meta charset="windows-1252">', "café.jpg", "caf%C3%A9.jpg"),
        ("shift_jis", '<meta charset="shift_jis">', "画像.png", "%E7%94%BB%E5%83%8F.png"),
        ("koi8-r", '<meta http-equiv="content-type" content="text/html; charset=koi8-r">',
         "фото.jpg", "%D1%84%D0%BE%D1%82%D0%BE.jpg"),
    ],
)
def test_legacy_encoded_page_gives_utf8_percent_encoded_urls(
    encoding, declaration, path, expected
):
    html = f'<html><head>{declaration}</head><body><img src="/{path}"></body></html>'
    body = html.encode(encoding)
    page = extract(decode_html(body, "text/html"), PAGE)
    assert list(page.images) == [f"http://site.test/{expected}"]


def test_http_charset_page_gives_utf8_percent_encoded_urls():
    body = '<img src="/café.jpg">'.encode("windows-1252")
    page = extract(decode_html(body, "text/html; charset=windows-1252"), PAGE)
    assert list(page.images) == ["http://site.test/caf%C3%A9.jpg"]


# --- sniffing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html", b"", True),
        ("text/html; charset=utf-8", b"{}", True),
        ("TEXT/HTML", b"", True),
        ("application/xhtml+xml", b"<?xml?>", True),
        ("image/jpeg", b"<html>", False),
        ("application/pdf", b"%PDF-1.4", False),
        ("application/json", b"{}", False),
        ("text/plain", b"<html>", False),
        (None, b"<!DOCTYPE html><html>", True),
        (None, b"\xef\xbb\xbf \n\t<!doctype HTML>", True),
        (None, b"  <html lang=en>", True),
        (None, b"<HEAD>", True),
        (None, b"\n<body class=x>", True),
        (None, b"<!-- hi --><p>", True),
        ("", b"<html>", True),
        ("application/unknown", b"<html>", True),
        (None, b"\xff\xd8\xff\xe0JFIF", False),
        (None, b"\x89PNG\r\n\x1a\n", False),
        (None, b"%PDF-1.7", False),
        (None, b'{"html": 1}', False),
        (None, b"<?xml version='1.0'?><rss>", False),
        (None, b"<htmlx>", False),
        (None, b"", False),
    ],
)
def test_is_html(content_type, body, expected):
    assert is_html(content_type, body) is expected


# --- nofollow -------------------------------------------------------------


def test_rel_nofollow_links_are_reported_apart():
    html = (
        '<a href="/a">a</a><a href="/b" rel="nofollow">b</a>'
        '<a href="/c" rel="noopener NoFollow\tnoreferrer">c</a>'
        '<map><area href="/d" rel="nofollow"><area href="/e" rel="nofollowx"></map>'
        '<a href="/f" rel="follow">f</a>'
    )
    page = extract(html, PAGE)
    assert page.links == ["http://site.test/a", "http://site.test/e", "http://site.test/f"]
    assert page.nofollow == ["http://site.test/b", "http://site.test/c", "http://site.test/d"]


def test_rel_is_split_on_ascii_white_space_only():
    page = extract('<a href="/a" rel="noopener\u00a0nofollow">a</a>', PAGE)
    assert page.links == ["http://site.test/a"]
    assert page.nofollow == []


def test_one_followable_link_makes_a_url_followable():
    """A URL is in one list only; document order is its first link's."""
    html = '<a href="/x" rel=nofollow>x</a><a href="/y">y</a><a href="/x#top">x again</a>'
    page = extract(html, PAGE)
    assert page.links == ["http://site.test/x", "http://site.test/y"]
    assert page.nofollow == []


@pytest.mark.parametrize(
    "meta",
    [
        '<meta name="robots" content="nofollow">',
        '<meta name="ROBOTS" content="noindex, NoFollow">',
        '<meta name="robots" content="none">',
        '<meta name=" robots " content="noarchive,nofollow,max-snippet:-1">',
        '<meta name="robots" content="noindex nofollow">',
    ],
)
def test_robots_nofollow_makes_every_link_nofollow(meta):
    """Wherever the meta is, every link of the page, meta refresh included,
    is nofollow, in document order; the images are still read."""
    html = (
        '<a href="/before">b</a><meta http-equiv="refresh" content="0; url=/next">'
        f'{meta}<a href="/after" rel="nofollow">a</a><img src="i.png">'
    )
    page = extract(html, PAGE)
    assert page.links == []
    assert page.nofollow == [
        "http://site.test/before", "http://site.test/next", "http://site.test/after",
    ]
    assert list(page.images) == ["http://site.test/dir/i.png"]


@pytest.mark.parametrize(
    "meta",
    [
        '<meta name="robots" content="noindex">',
        '<meta name="robots" content="index, follow">',
        '<meta name="robots" content="nofollowing">',
        '<meta name="description" content="nofollow">',
        '<meta property="robots" content="">',
    ],
)
def test_other_robots_metas_change_no_link(meta):
    page = extract(f'{meta}<a href="/a">a</a><img src="i.png">', PAGE)
    assert page.links == ["http://site.test/a"]
    assert page.nofollow == []
    assert list(page.images) == ["http://site.test/dir/i.png"]


def test_meta_refresh_is_followable_on_a_followable_page():
    html = '<meta http-equiv="refresh" content="0; url=/n"><a href="/a" rel=nofollow>'
    page = extract(html, PAGE)
    assert page.links == ["http://site.test/n"]
    assert page.nofollow == ["http://site.test/a"]


def test_summarize_caps_each_link_list_and_counts_both():
    page = Page({}, [f"http://a.test/f{i}" for i in range(2)],
                [f"http://a.test/n{i}" for i in range(5)])
    parsed = summarize(page, cap=3)
    assert parsed.links == ["http://a.test/f0", "http://a.test/f1"]
    assert parsed.nofollow == ["http://a.test/n0", "http://a.test/n1", "http://a.test/n2"]
    assert (parsed.link_count, parsed.capped) == (7, True)
    assert summarize(Page({}, ["http://a.test/"]), cap=3).nofollow == []
