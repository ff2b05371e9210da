"""The web-platform-tests srcset parsing cases (tests/data/wpt/SOURCES.md),
one test each, against worker.srcset.srcset_urls.

WPT checks what a browser shows: ``img.currentSrc`` at device pixel ratio 1
with no ``sizes``, which must equal ``data-expect`` (resolved first when
``data-resolve`` is set; we compare the raw candidate, since srcset_urls
returns what the page wrote).  The crawler reports every candidate the
standard keeps, not the one a browser picks, so the mapping is:

- an empty ``data-expect``: the standard keeps no candidate, so we report
  none;
- a srcset the standard splits into one candidate: we report exactly
  ``[data-expect]``;
- a srcset it splits into several (the ``descriptor tokenizer`` section):
  we report exactly the valid ones listed in ``SEVERAL`` below, worked out
  by hand from the standard's algorithm, and the browser's pick
  (``data-expect``) is among them.  With no ``sizes`` every candidate there
  is ``1x`` or has no descriptor, and a browser picks the first ``1x``.
"""

import re
from html import unescape
from pathlib import Path

import pytest

from worker.srcset import srcset_urls

DATA = Path(__file__).parent.parent / "data" / "wpt" / "parse-a-srcset-attribute.html"
_IMG_RE = re.compile(r"<img\s([^>]*)>")
_ATTRIBUTE_RE = re.compile(r"([a-z-]+)(?:='([^']*)')?")
_REFERENCE_RE = re.compile(r"&(?:#x([0-9A-Fa-f]+)|(nbsp));")

# srcset -> the candidates the standard keeps, for the srcsets it splits
# into more than one candidate; each note says why the others are dropped.
SEVERAL = {
    # "( , data:,b 1x, )" is one descriptor (commas in parentheses do not split)
    "data:,a ( , data:,b 1x, ), data:,c": ["data:,c"],
    "data:,a ((( , data:,b 1x, ), data:,c": ["data:,c"],
    # only ( groups: "[" is a descriptor, then "data:,b 1x", "]", "data:,c"
    "data:,a [ , data:,b 1x, ], data:,c": ["data:,b", "]", "data:,c"],
    "data:,a { , data:,b 1x, }, data:,c": ["data:,b", "}", "data:,c"],
    'data:,a " , data:,b 1x, ", data:,c': ["data:,b", '"', "data:,c"],
    # "\" is a descriptor; the next URL ends with a comma, which is stripped
    "data:,a \\,data:;\\,b, data:,c": ["data:;\\,b", "data:,c"],
    # an unclosed or empty parenthesis is a descriptor, and not a valid one
    "data:,a, data:,b (": ["data:,a"],
    "data:,a, data:,b (  ": ["data:,a"],
    "data:,a, data:,b (,": ["data:,a"],
    "data:,a, data:,b (x": ["data:,a"],
    "data:,a, data:,b ()": ["data:,a"],
    # the parenthesis runs to the end: one candidate with a bad descriptor
    "data:,a (, data:,b": [],
    # "/*" and "*/" are descriptors, not a comment
    "data:,a /*, data:,b, data:,c */": ["data:,b"],
    "data:,a //, data:,b": ["data:,b"],
}


def _decode(value: str) -> str:
    """The character references the file uses, as an HTML parser decodes
    them: a hexadecimal one to its code point, controls included (Python's
    html.unescape drops U+0001 and U+000B, a browser keeps them), and &nbsp;."""
    return _REFERENCE_RE.sub(
        lambda m: chr(int(m[1], 16)) if m[1] else unescape(f"&{m[2]};"), value
    )


def wpt_cases() -> list[tuple[str, str]]:
    """(srcset, data-expect) of every <img srcset data-expect> in the file."""
    cases = []
    for tag in _IMG_RE.finditer(DATA.read_text(encoding="utf-8")):
        attributes = {name: _decode(value) for name, value in _ATTRIBUTE_RE.findall(tag[1])}
        assert "&" not in attributes.get("srcset", ""), f"undecoded reference in {tag[0]}"
        if "srcset" in attributes and "data-expect" in attributes:
            cases.append((attributes["srcset"], attributes["data-expect"]))
    return cases


def expected_candidates(srcset: str, expect: str) -> list[str]:
    """What we must report for a case, by the mapping in the docstring."""
    if srcset in SEVERAL:
        return SEVERAL[srcset]
    return [expect] if expect else []


CASES = wpt_cases()


def test_the_file_has_every_case():
    """The checked-in file is the one the figures are about, and every
    hand-worked case in SEVERAL is in it."""
    assert len(CASES) == 235
    assert set(SEVERAL) <= {srcset for srcset, _ in CASES}


@pytest.mark.parametrize(("srcset", "expect"), CASES, ids=[repr(s)[1:-1][:60] for s, _ in CASES])
def test_wpt_srcset_case(srcset, expect):
    urls = srcset_urls(srcset)
    assert urls == expected_candidates(srcset, expect)
    assert (expect in urls) if expect else not urls
