"""Unit tests for worker.css: url() and image-set() found by tokenizing CSS
as CSS Syntax Level 3 does, and the exact precheck that spares most style
attributes the tokenizer."""

import pytest

from worker.css import css_urls, may_hold_url


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("background: url(a.png)", ["a.png"]),
        ("background: URL( a.png )", ["a.png"]),
        ("background: url('a b.png'), url(\"it's.png\")", ["a b.png", "it's.png"]),
        ("background: url( \"a.png\" ) no-repeat", ["a.png"]),
        ("background: url()", []),
        ("background: url(  ), url('  ')", []),
    ],
)
def test_quoted_and_unquoted_urls(css, expected):
    assert css_urls(css) == expected


@pytest.mark.parametrize(
    "css",
    [
        "/* background: url(a.png) */ color: red",
        "/* unclosed comment url(a.png)",
        "content: \"url(a.png)\"",
        "content: 'url(a.png)'",
        "font-family: 'x url(a.png) y'",
    ],
)
def test_comments_and_strings_are_not_urls(css):
    assert css_urls(css) == []


def test_comment_markers_inside_urls_and_strings_are_text():
    assert css_urls("background: url(a/*b*/.png)") == ["a/*b*/.png"]
    assert css_urls("content: '/*'; background: url(x.png) /* */") == ["x.png"]


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("background: u\\72l(a.png)", ["a.png"]),
        ("background: \\75 RL(a.png)", ["a.png"]),
        ("background: \\55\\52\\4c('a.png')", ["a.png"]),
        ("background: url(a\\2e png)", ["a.png"]),
        ("background: url(a\\)b.png)", ["a)b.png"]),
        ("background: url('a\\'b.png')", ["a'b.png"]),
        ("background: url('a\\\nb.png')", ["ab.png"]),
        ("background: url(\\E9t\\E9.png)", ["été.png"]),
        ("background: url(\\D800.png)", ["\ufffd.png"]),
    ],
)
def test_escapes_are_decoded(css, expected):
    """CSS escapes, in the function name and in the URL, as CSS Syntax
    decodes them (a surrogate is U+FFFD; backslash-newline in a string is
    a line continuation)."""
    assert css_urls(css) == expected


@pytest.mark.parametrize(
    "css",
    [
        "background: url(a b.png)",
        "background: url(a'b.png)",
        "background: url(a(b.png)",
        "background: url(a\x01b.png)",
        "background: url(a\\\nb.png)",
    ],
)
def test_bad_url_tokens_are_not_urls(css):
    """White space inside, a quote, a parenthesis, a control character or an
    invalid escape make a bad-url token, which a browser ignores."""
    assert css_urls(css) == []


def test_a_bad_url_ends_at_its_parenthesis():
    assert css_urls("background: url(a b.png), url(c.png)") == ["c.png"]
    assert css_urls("background: url(a b\\).png), url(c.png)") == ["c.png"]


def test_not_a_url_function():
    """Only an ident "url" right before "(" starts one: not a dimension's
    unit, a hash, an at-keyword or another function's name."""
    assert css_urls("a: 1url(a.png) #url(b.png) xurl(c.png) -url(d.png) url (e.png)") == []
    assert css_urls("a: .url(a.png) +url(b.png)") == ["a.png", "b.png"]


def test_unclosed_input_ends_at_its_end():
    assert css_urls("background: url('a.png") == ["a.png"]
    assert css_urls("background: url(a.png") == ["a.png"]
    assert css_urls("url(" * 20000) == []


def test_deep_nesting_does_not_crash():
    assert css_urls("(" * 20000 + "url(a.png)") == ["a.png"]
    assert css_urls("{[(" * 10000 + "image-set('b.png' 1x)") == ["b.png"]


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("background: image-set('a.png' 1x, \"b.png\" 2x)", ["a.png", "b.png"]),
        ("background: -webkit-image-set(url(a.png) 1x, 'b.png' 2x)", ["a.png", "b.png"]),
        ("background: IMAGE-SET(url('a.png') type('image/avif'))", ["a.png"]),
        ("background: image-set(linear-gradient('x'), 'a.png' 1x)", ["a.png"]),
    ],
)
def test_image_set(css, expected):
    """image-set()'s strings are images, as its url()s are; a string nested
    in another function inside it is not."""
    assert css_urls(css) == expected


def test_non_image_at_rules_are_skipped():
    css = (
        "@import url(print.css) print; @import 'x.css';"
        "@namespace svg url(http://www.w3.org/2000/svg);"
        "@font-face { font-family: F; src: url(f.woff2) format('woff2') }"
        ".a { background: url(a.png) }"
        "@media (min-width: 1px) { @font-face { src: url(g.woff) } .b { background: url(b.png) } }"
    )
    assert css_urls(css) == ["a.png", "b.png"]


@pytest.mark.parametrize(
    "css",
    ["", "color: red", "margin:0 auto", "width: calc(100% - 2em)", "filter: blur(2px)",
     "content: 'u r l ('", "background: URl/**/(x.png)"],
)
def test_precheck_rejects_css_without_urls(css):
    assert not may_hold_url(css)
    assert css_urls(css) == []


@pytest.mark.parametrize(
    "css", ["url(a.png)", "Url(a.png)", "image-set('a.png' 1x)", "u\\72l(a.png)", "\\75rl(a)"]
)
def test_precheck_passes_css_that_may_have_urls(css):
    """The precheck is exact: an escape can spell url, so any backslash
    sends the CSS to the tokenizer."""
    assert may_hold_url(css)
    assert css_urls(css)
