"""Properties of srcset_urls(): the HTML standard's splitting of a srcset
into candidates and its descriptor parser, which drops a candidate whose
descriptors are invalid ("foo", "1x 1x", "1X"; the exact cases are the WPT
ones in tests/unit/test_srcset_wpt.py)."""

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.contracts import ASCII_WHITESPACE, check_raw_urls
from tests.fuzz.strategies import srcsets
from worker.srcset import srcset_urls

_any_text = st.text(st.characters(exclude_categories=()))
_srcset_text = st.text(st.sampled_from(list(" \t\n\x0c\r,()x1w.a/\u00a0\x0b") + ["\ud800"]))


@given(_any_text | _srcset_text)
@example("a.jpg (unclosed, paren")
@example("(" * 1000 + "," * 1000)
def test_candidates_are_raw_urls(srcset):
    """Whatever the value, the candidates are pieces of it that the page's
    base can resolve: non-empty, without ASCII white space (which separates
    a URL from its descriptors), and without the commas that separate
    candidates at either end."""
    urls = srcset_urls(srcset)
    check_raw_urls(urls, srcset)
    for url in urls:
        assert not any(c in ASCII_WHITESPACE for c in url), urls
        assert not url.startswith(",") and not url.endswith(","), urls


@given(srcsets())
@example(("a.jpg,b.jpg 2x", ["a.jpg,b.jpg"]))
@example(("a.jpg (min-width: 1px, 2px) 1x, b.jpg", ["b.jpg"]))
@example(("a.jpg foo, b.jpg 1x 1x, c.jpg 1X, d.jpg 1x", ["d.jpg"]))
def test_candidate_lists_split_into_their_urls(srcset_and_urls):
    """A srcset written as authors write it (descriptors valid, invalid or
    none, commas inside URLs and inside parenthesised descriptors, any white
    space and extra commas between candidates) gives back exactly the URLs
    of its valid candidates, in order."""
    srcset, urls = srcset_and_urls
    assert srcset_urls(srcset) == urls


@given(_any_text | _srcset_text, st.text(st.sampled_from(ASCII_WHITESPACE + ","), min_size=1),
       st.text(st.sampled_from(ASCII_WHITESPACE + ","), min_size=1))
def test_white_space_and_commas_around_a_srcset_change_nothing(srcset, before, after):
    """Leading white space and commas are skipped before the first URL, and
    trailing ones can only end the last candidate, never add one."""
    assert srcset_urls(before + srcset + " " + after) == srcset_urls(srcset)
