"""Properties of css_urls(): the url() and image-set() references of a
style attribute or a stylesheet, found by tokenizing it."""

import re

import tinycss2
from hypothesis import example, given
from hypothesis import strategies as st
from tinycss2.ast import FunctionBlock, URLToken

from tests.fuzz.contracts import check_raw_urls
from tests.fuzz.strategies import css_declarations, stylesheets
from worker.css import css_urls, may_hold_url

_any_text = st.text(st.characters(exclude_categories=()))
_css_text = st.lists(
    st.sampled_from(["url(", "URL(", ")", "'", '"', "\\", " ", "\n", "\u3000", "a", ";", "/*",
                     "*/", "(", ",", "\ud800", "u\\72l(", "image-set(", "@import", "{", "}",
                     "72", "l("])
).map("".join)
_URL_FUNCTIONS = frozenset({"url", "image-set", "-webkit-image-set"})


def _has_url_token(css: str) -> bool:
    """Whether tinycss2 sees a url token or a url()/image-set() function
    anywhere in the CSS: an oracle for the precheck, walking all of it."""
    pending = [tinycss2.parse_component_value_list(css, skip_comments=True)]
    while pending:
        for node in pending.pop():
            if isinstance(node, URLToken):
                return True
            if isinstance(node, FunctionBlock):
                if node.lower_name in _URL_FUNCTIONS:
                    return True
                pending.append(node.arguments)
            elif getattr(node, "content", None) is not None:
                pending.append(node.content)
    return False


@given(_any_text | _css_text)
@example("url(" * 200 + "'" * 200)
@example("url( \u3000a.png\u3000)")
@example("u\\72l(a.png)")
def test_references_are_raw_urls(css):
    """Whatever the CSS, each reference is non-blank text taken from it
    (decoded, where it has escapes); an unquoted one without escapes holds
    no CSS white space (ASCII only: U+3000 is part of a URL), quote or
    parenthesis, since those end or break an unquoted url()."""
    urls = css_urls(css)
    check_raw_urls(urls, css)
    if "\\" in css:
        return
    for url in urls:
        quoted = any(f"{quote}{url}{quote}" in css for quote in "'\"")
        assert quoted or not re.search(r"[\"'() \t\n\r\f]", url), urls


@given(_any_text | _css_text)
@example("u\\72l(a.png)")
@example("\\55 RL(a)")
def test_the_precheck_is_exact(css):
    """The precheck turns away only CSS in which the tokenizer sees no
    url() or image-set() at all."""
    if not may_hold_url(css):
        assert not _has_url_token(css), css


@given(css_declarations())
@example(("background: url( 'a b.png' ), url(\"it's.png\"), url(x.png)",
          ["a b.png", "it's.png", "x.png"]))
@example(("content: url(\"url(x.png)\")", ["url(x.png)"]))
@example(("background: u\\72l(a\\2e png), image-set('b.png' 1x)", ["a.png", "b.png"]))
def test_declarations_give_their_urls(css_and_urls):
    """Declarations as authors write them (quoted in either quote, or
    unquoted, any case of url(, escapes, image-set(), white space inside
    the parentheses, several urls in one value, other declarations around)
    give back exactly their URLs, in order; a url() holding only white
    space is no reference."""
    css, urls = css_and_urls
    assert css_urls(css) == urls


@given(stylesheets())
@example(("/* url(a.png) */ .a { content: 'url(b.png)'; background: url(c.png) }", ["c.png"]))
def test_stylesheets_give_their_image_urls(css_and_urls):
    """Rules, at-rules and comments: comments, fonts and imports give none."""
    css, urls = css_and_urls
    assert css_urls(css) == urls


@given(_any_text | _css_text, st.sampled_from(["color: red;", "a { margin: 0 }", "/* x */ ", "\n"]))
def test_css_before_a_url_changes_nothing(css, before):
    """Complete CSS before a reference does not change it."""
    assert css_urls(before + css) == css_urls(css)
