"""
The web-platform-tests URL cases that an http(s) page can contain.

tests/data/wpt/urltestdata.json (origin in tests/data/wpt/SOURCES.md) is
what browsers are tested against: each case is an input, a base, and the
URL a browser makes of it, or a failure.  A page's links are resolved
against the page, so the cases that concern the crawler are those with an
http(s) base: every one of them is checked, none skipped.

The crawler's policy is applied to the browser's answer here, one named
rule at a time (L{expected_href}), rather than by leaving cases out:
  - a result that is not http(s) is not crawlable (None);
  - the fragment is dropped (the same resource);
  - the userinfo is dropped (never sent, and one page gets one key);
  - an empty query ("/a?") is dropped (servers do not tell it from "/a");
  - blank and fragment-only hrefs point back at the page itself, so the
    extractor skips them (L{test_self_references_are_not_links}), while
    L{common.urls.normalize} still resolves them as the standard does.
"""

import json
from html import escape
from pathlib import Path

import pytest

from common.urls import normalize
from worker.extract import extract

DATA = Path(__file__).resolve().parents[1] / "data" / "wpt" / "urltestdata.json"
HTTP = ("http://", "https://")
ASCII_WHITESPACE = "\t\n\x0c\r "


def page_cases():
    """The cases with an http(s) base, in the file's order."""
    cases = [case for case in json.loads(DATA.read_text("utf-8")) if isinstance(case, dict)]
    return [case for case in cases if (case.get("base") or "").startswith(HTTP)]


def is_self_reference(case):
    """A blank or fragment-only href, which the extractor skips."""
    text = case["input"].strip(ASCII_WHITESPACE)
    return not text or text.startswith("#")


def expected_href(case):
    """What the crawler makes of the case: the browser's answer, with the
    policy in the module docstring applied to it, rule by rule."""
    if case.get("failure"):
        return None                                      # browsers refuse it too
    if case["protocol"] not in ("http:", "https:"):
        return None                                      # rule: http(s) only
    # Rebuilt from the parts, leaving out "username"/"password" (rule: no
    # userinfo) and "hash" (rule: no fragment); "search" is "" both for no
    # query and for an empty one (rule: no empty query).
    return f"{case['protocol']}//{case['host']}{case['pathname']}{case['search']}"


def _case_id(case):
    return f"{case['input']!r} on {case['base']!r}"[:120]


CASES = page_cases()


def test_the_cases_are_all_there():
    """A data file cut short, or a selection gone wrong, must not pass quietly."""
    assert len(CASES) == 202
    assert sum(map(is_self_reference, CASES)) == 9
    assert sum(expected_href(case) is None for case in CASES) == 88


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_the_crawler_parses_as_browsers_do(case):
    assert normalize(case["input"], case["base"]) == expected_href(case)


@pytest.mark.parametrize("case", [c for c in CASES if is_self_reference(c)], ids=_case_id)
def test_self_references_are_not_links(case):
    page_url = normalize(case["base"])
    page = extract(f'<a href="{escape(case["input"])}">me</a><a href="next">next</a>', page_url)
    assert page.links == [normalize("next", page_url)]
