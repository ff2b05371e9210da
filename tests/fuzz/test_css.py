"""Properties of css_urls(): the url(...) references of a style attribute
or a stylesheet, quoted or not."""

import re

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.contracts import check_raw_urls
from tests.fuzz.strategies import css_declarations
from worker.extract import css_urls

_any_text = st.text(st.characters(exclude_categories=()))
_css_text = st.lists(
    st.sampled_from(["url(", "URL(", ")", "'", '"', "\\", " ", "\n", "\u3000", "a", ";", "/*",
                     "*/", "(", ",", "\ud800"])
).map("".join)


@given(_any_text | _css_text)
@example("url(" * 200 + "'" * 200)
@example("url( \u3000a.png\u3000)")
def test_references_are_raw_urls(css):
    """Whatever the CSS, each reference is non-blank text taken from it; an
    unquoted one holds no white space, quote or parenthesis, since those end
    or break an unquoted url()."""
    urls = css_urls(css)
    check_raw_urls(urls, css)
    for url in urls:
        quoted = any(f"{quote}{url}{quote}" in css for quote in "'\"")
        assert quoted or not re.search(r"[\"'()\s]", url), urls


@given(css_declarations())
@example(("background: url( 'a b.png' ), url(\"it's.png\"), url(x.png)",
          ["a b.png", "it's.png", "x.png"]))
@example(("content: url(\"url(x.png)\")", ["url(x.png)"]))
def test_declarations_give_their_urls(css_and_urls):
    """Declarations as authors write them (quoted in either quote, or
    unquoted, any case of url(, white space inside the parentheses, several
    urls in one value, other declarations around) give back exactly their
    URLs, in order; a url() holding only white space is no reference."""
    css, urls = css_and_urls
    assert css_urls(css) == urls


@given(_any_text | _css_text, st.sampled_from(["color: red;", "a { margin: 0 }", "/* x */ ", "\n"]))
def test_css_before_a_url_changes_nothing(css, before):
    """A reference is read from its url( onwards: CSS before it without a
    url( of its own does not change it."""
    assert css_urls(before + css) == css_urls(css)
