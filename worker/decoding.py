"""
What a response body is, and how to read it as text: the page's encoding
picked as a browser picks it (BOM, HTTP charset, <meta>, then a guess), and
whether an untyped response is HTML, by the MIME Sniffing standard.  Pure
functions, run in the parser processes (and by the fetcher, to decide
whether a body is worth downloading).
"""

from __future__ import annotations

import codecs

from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, to_unicode

_ASCII_WHITESPACE = b"\t\n\x0c\r "
# The Encoding standard's byte order marks: the web has no UTF-32, so
# FF FE 00 00 is UTF-16LE and a U+0000.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# The Encoding standard's encodings, as the codecs w3lib resolves their labels
# to.  Python knows others that no browser does (base64, idna, unicode_escape,
# EBCDIC...), some of which raise on any bytes or make lone surrogates; a page
# declaring one is read as if it declared nothing, as browsers read it.
_WEB_ENCODINGS = frozenset({
    "utf-8", "utf-16", "utf-16-be", "utf-16-le", "cp866", "koi8-r", "koi8-u", "mac-roman",
    "cp874", "gb18030", "big5hkscs", "euc_jp", "iso2022_jp", "cp932", "cp949",
    *(f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
    *(f"cp{n}" for n in range(1250, 1259)),
})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_UNKNOWN_TYPES = frozenset({"", "unknown/unknown", "application/unknown", "*/*"})
# MIME Sniffing standard, "identifying a resource with an unknown MIME type":
# one of these, then a space or ">".
_HTML_TAGS = (
    b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font",
    b"<table", b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p", b"<!--",
)
_HTML_SIGNATURES = tuple(tag + end for tag in _HTML_TAGS for end in (b" ", b">"))


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode a page the way a browser picks its encoding, so non-ASCII URLs
    come out as the same characters the browser would request."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return to_unicode(body[len(bom):], encoding)
    return to_unicode(body, _declared_or_guessed_encoding(body, content_type))


def _declared_or_guessed_encoding(body: bytes, content_type: str | None) -> str:
    """HTTP charset, then <meta> charset, then UTF-8 if the bytes are UTF-8,
    else windows-1252, the browsers' fallback for undeclared Western pages."""
    header = http_content_type_encoding(content_type)
    if header in _WEB_ENCODINGS:
        # The Encoding standard's "utf-16" label means little-endian.
        return "utf-16-le" if header == "utf-16" else header
    meta = html_body_declared_encoding(body)
    if meta is not None and meta.startswith(("utf-16", "utf-32")):
        # An ASCII-compatible <meta> cannot truthfully declare UTF-16/32;
        # the HTML standard reads such a page as UTF-8.
        return "utf-8"
    if meta in _WEB_ENCODINGS:
        return meta
    return "utf-8" if _is_utf8(body) else "cp1252"


def _is_utf8(body: bytes) -> bool:
    """Whether `body` is UTF-8, allowing a character cut off at the end, as
    happens when a large page is truncated at the download limit."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return False
    return True


def is_html(content_type: str | None, body: bytes) -> bool:
    """Whether to parse a response as HTML: by its declared type, or, when the
    server did not say, by sniffing its first bytes as browsers do."""
    mime = (content_type or "").partition(";")[0].strip().lower()
    if mime not in _UNKNOWN_TYPES:
        return mime in _HTML_TYPES
    head = body[:512].removeprefix(codecs.BOM_UTF8).lstrip(_ASCII_WHITESPACE)
    return head.lower().startswith(_HTML_SIGNATURES)

