"""The image URLs of CSS: url() and image-set() references, found by
tokenizing the CSS as CSS Syntax Level 3 does (tinycss2), so that a url()
in a comment or in a string is not one, and escapes are decoded
(``u\\72l(a\\2e png)`` is ``url(a.png)``).

Most style attributes hold no URL at all, so a cheap exact test comes
first: without a backslash, a url() or image-set() can only be spelled with
those letters, in any case, right before its "(".  Only CSS that passes it
is tokenized.
"""

from __future__ import annotations

import re

import tinycss2
from tinycss2.ast import AtKeywordToken, FunctionBlock, Node, StringToken, URLToken

# A backslash may start an escape that spells "url" or "image-set".
_MAY_HOLD_URL_RE = re.compile(r"url\(|image-set\(|\\", re.IGNORECASE)
# A URL of only white space (ASCII, as the URL parser strips) is none.
_BLANK = "\t\n\f\r "
# CSS Syntax reads surrogates, raw or escaped, as U+FFFD; tinycss2 keeps them.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# At-rules whose url()s are fonts, stylesheets or namespaces, never images.
_NON_IMAGE_AT_RULES = frozenset({"import", "font-face", "namespace"})
_IMAGE_SETS = frozenset({"image-set", "-webkit-image-set"})


def may_hold_url(css: str) -> bool:
    """False only when the CSS cannot hold a url() or image-set()."""
    return _MAY_HOLD_URL_RE.search(css) is not None


def css_urls(css: str) -> list[str]:
    """The URLs of the url() and image-set() references in a style
    attribute or a stylesheet, in order, escapes decoded; blank ones and
    those inside @import, @font-face and @namespace are left out."""
    if not may_hold_url(css):
        return []
    urls: list[str] = []
    _collect(tinycss2.parse_component_value_list(css, skip_comments=True), urls)
    return [_SURROGATE_RE.sub("\ufffd", url) for url in urls if url.strip(_BLANK)]


class _Level:
    """One token list being walked: its remaining nodes, whether its strings
    are images (an image-set()'s arguments), and whether a non-image
    at-rule is being skipped in it."""

    __slots__ = ("nodes", "strings", "skipping")

    def __init__(self, nodes: list[Node], strings: bool = False) -> None:
        self.nodes, self.strings, self.skipping = iter(nodes), strings, False


def _collect(nodes: list[Node], urls: list[str]) -> None:
    """Walk a token list and the blocks and functions in it, with a stack of
    its own: CSS nests as deep as its author likes.  A non-image at-rule is
    skipped up to its ";" or through its {} block."""
    levels = [_Level(nodes)]
    while levels:
        level = levels[-1]
        node = next(level.nodes, None)
        if node is None:
            levels.pop()
        elif level.skipping:
            level.skipping = not (node.type == "{} block" or node == ";")
        elif isinstance(node, URLToken) or level.strings and isinstance(node, StringToken):
            urls.append(node.value)
        elif isinstance(node, AtKeywordToken):
            level.skipping = node.lower_value in _NON_IMAGE_AT_RULES
        elif isinstance(node, FunctionBlock):
            if node.lower_name == "url":
                _quoted_url(node, urls)
            else:
                levels.append(_Level(node.arguments, node.lower_name in _IMAGE_SETS))
        elif (content := getattr(node, "content", None)) is not None:
            levels.append(_Level(content))


def _quoted_url(function: FunctionBlock, urls: list[str]) -> None:
    """url("x") is a function, not a url token, when its URL is quoted; what
    follows the string (url modifiers) is no URL."""
    first = next((node for node in function.arguments if node.type != "whitespace"), None)
    if isinstance(first, StringToken):
        urls.append(first.value)
