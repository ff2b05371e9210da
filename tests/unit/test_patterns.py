"""Unit tests for common.patterns: RE2 include/exclude over whole URLs."""

import pytest

from common.patterns import LinkFilter, PatternError, check


def admits(url, include=(), exclude=()):
    return LinkFilter.of(include, exclude).admits(url)


def test_no_patterns_admit_everything():
    assert admits("http://e.com/anything")


def test_a_pattern_is_searched_for_in_the_whole_url():
    assert admits("http://e.com/blog/post", include=["/blog/"])
    assert admits("http://e.com/blog/post", include=["^http://e\\.com/"])
    assert not admits("http://e.com/about", include=["/blog/"])
    assert not admits("http://e.com/blog/post", include=["^/blog/"]), "the URL starts with its scheme"


def test_anchors_match_all_of_it():
    assert admits("http://e.com/a", include=[r"^http://e\.com/a$"])
    assert not admits("http://e.com/ab", include=[r"^http://e\.com/a$"])


def test_some_include_and_no_exclude():
    include, exclude = ["/blog/", "/news/"], ["/tag/"]
    assert admits("http://e.com/news/1", include, exclude)
    assert not admits("http://e.com/blog/tag/x", include, exclude)
    assert not admits("http://e.com/tag/x", exclude=exclude)
    assert admits("http://e.com/x", exclude=exclude)


def test_matching_is_case_sensitive_unless_asked():
    assert not admits("http://e.com/Blog/", include=["/blog/"])
    assert admits("http://e.com/Blog/", include=["(?i)/blog/"])


@pytest.mark.parametrize(("pattern", "reason"), [
    (r"(a)\1", "invalid escape sequence"),
    ("a(?=b)", "invalid perl operator"),
    ("(?<!x)a", "invalid perl operator"),
    ("(unclosed", "missing )"),
])
def test_what_re2_refuses_is_named_with_its_reason(pattern, reason):
    with pytest.raises(PatternError) as info:
        check("include", [pattern], 10, 100)
    assert repr(pattern) in str(info.value) and reason in str(info.value)


def test_a_program_over_the_memory_bound_is_refused():
    """RE2 stops compiling at max_mem: such patterns cost a 422, not memory."""
    with pytest.raises(PatternError, match="exclude pattern .* pattern too large"):
        check("exclude", [r"\pL{500}"], 10, 100)
    with pytest.raises(PatternError, match="the exclude patterns together are too large"):
        check("exclude", [r"\pL{100}"], 10, 100)
    with pytest.raises(PatternError, match="invalid repetition size"):
        check("exclude", ["((a{100}){100}){100}"], 10, 100)


def test_caps_on_count_and_length():
    assert check("include", ["a", "b"], 2, 1) == ["a", "b"]
    with pytest.raises(PatternError, match="at most 2"):
        check("include", ["a", "b", "c"], 2, 10)
    with pytest.raises(PatternError, match="at most 5"):
        check("include", ["abcdef"], 2, 5)


def test_a_pathological_pattern_is_linear():
    """(a+)+$ backtracks exponentially in Python's re on "aaa...b"; in RE2
    it is one pass.  Asserted by outcome: a million characters, answered."""
    url = "http://e.com/" + "a" * 1_000_000 + "b"
    assert admits(url, exclude=["(a+)+$"]) is True
    assert admits(url, include=["(a|aa)+$", "(x+x+)+y"]) is False
    assert admits(url + "/", include=["(.*a){20}"]) is True
