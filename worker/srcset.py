"""The image candidates of a srcset, as the HTML standard's "parse a srcset
attribute" algorithm reads them, descriptors included.

A browser never loads a candidate whose descriptors it rejects (``a.png foo``,
``a.png 1x 1x``, ``a.png 1X``: the standard's ``w``, ``x`` and ``h`` are
lower case only), so neither do we report one.  All of it is regular
expressions over the value, not a character loop: srcsets with thousands of
candidates are common on generated pages.
"""

from __future__ import annotations

import re

# The standard's white space is ASCII only; U+00A0 and U+000B may be part of
# a URL or a descriptor (and then make the descriptor invalid).
_CANDIDATE_URL_RE = re.compile(r"[\t\n\f\r ,]*+([^\t\n\f\r ]+)")
# The descriptor tokenizer: everything up to a comma outside parentheses (an
# unclosed parenthesis runs to the end), the comma included.
_DESCRIPTORS_RE = re.compile(r"(?:[^,(]|\([^)]*\)?)*,?")
# One descriptor: white space ends it, except inside parentheses.
_DESCRIPTOR_RE = re.compile(r"(?:[^\t\n\f\r ,(]|\([^)]*\)?)+")
# "Valid non-negative integer" and "valid floating-point number", then the
# descriptor's letter; [0-9], since \d would take any Unicode digit.
_WIDTH_RE = re.compile(r"[0-9]+w")
_HEIGHT_RE = re.compile(r"[0-9]+h")
_DENSITY_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?x")
# What nearly every real srcset's descriptors are, checked in one step.
_COMMON_RE = re.compile(r"[ \t\n\f\r]*(?:[1-9][0-9]*w|[0-9]+(?:\.[0-9]+)?x)?[ \t\n\f\r]*,?")


def srcset_urls(srcset: str) -> list[str]:
    """The URLs of the candidates the standard keeps, in order, as written.

    URLs may contain commas: a comma ends a URL only at its end, and ends a
    candidate's descriptors only outside parentheses."""
    urls = []
    position = 0
    while match := _CANDIDATE_URL_RE.match(srcset, position):
        url, position = match.group(1), match.end()
        if url.endswith(","):
            urls.append(url.rstrip(","))
            continue
        if common := _COMMON_RE.match(srcset, position):
            end = common.end()
            if end == len(srcset) or srcset[end - 1] == ",":
                urls.append(url)
                position = end
                continue
        end = _DESCRIPTORS_RE.match(srcset, position).end()
        if descriptors_valid(_DESCRIPTOR_RE.findall(srcset, position, end)):
            urls.append(url)
        position = end
    return urls


def descriptors_valid(descriptors: list[str]) -> bool:
    """The standard's descriptor parser: at most one width or one density,
    a height only with a width, no zero width or height, no negative or
    infinite density, and nothing else."""
    width = density = height = False
    for descriptor in descriptors:
        if _WIDTH_RE.fullmatch(descriptor):
            if width or density or not descriptor[:-1].strip("0"):
                return False
            width = True
        elif _DENSITY_RE.fullmatch(descriptor):
            value = float(descriptor[:-1])
            if width or density or height or value < 0 or value == float("inf"):
                return False
            density = True
        elif _HEIGHT_RE.fullmatch(descriptor):
            if height or density or not descriptor[:-1].strip("0"):
                return False
            height = True
        else:
            return False
    return width or not height
