"""URL normalisation and crawl scope, shared by the API and the workers.

Deduplication compares URLs as strings, so every URL that enters the system
goes through `normalize` to get one spelling per resource.  The URLs come out
of HTML that was written and tested in browsers, so they are parsed exactly
as browsers parse them: by the WHATWG URL Standard, as implemented by ada
(`ada_url`), whose serialisation is the canonical form.  The crawler's policy
sits on top, in `_crawlable`: http(s) only, no fragment, no userinfo, no
empty query, and only hosts a name server can answer for.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import ada_url
import tldextract

MAX_URL_LENGTH = 2048
SCOPES = ("host", "domain", "any")

_HTTP = ("http://", "https://")
_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
# What the URL Standard strips from the edges of its input, and removes inside.
_EDGE_JUNK = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")
# Where a special URL's authority ends, as the Standard's parser sees it.
_AUTHORITY_END_RE = re.compile(r"[/\\?#]")
# A URL glued to the previous one; "=" before it means a query parameter
# value such as ?next=http://..., which is part of the URL, not a new one.
_GLUED_URL_RE = re.compile(r"(?<!=)(?=https?://)", re.IGNORECASE)


class InvalidURL(ValueError):
    """A URL that cannot be crawled; the message is shown to API users as is."""


def normalize(url: str, base: str | None = None) -> str | None:
    """Return the canonical http(s) form of `url`, or None if it has none.

    Pages are full of hrefs that are not crawlable (mailto:, javascript:,
    broken hosts), so rejecting them is the normal case, not an error, and
    nothing a page contains may crash the worker.  A `base` that is no URL
    at all is ignored, so that an absolute `url` still counts.
    """
    if not isinstance(url, str) or not (base is None or isinstance(base, str)):
        return None
    href = _parse(url, base)
    if href is None and base is not None and not ada_url.check_url(base):
        href = _parse(url, None)
    return None if href is None else _crawlable(href)


# A path-only reference made of characters that need no percent-encoding
# and with no dot segment: joined to a canonical base, it is canonical as it
# stands (tests/unit/test_urls.py checks that it equals the parser's answer).
_PLAIN_PATH_RE = re.compile(r"[A-Za-z0-9_~!$&'()*+,;=@/-][A-Za-z0-9._~!$&'()*+,;=@/-]*")


def resolve(ref: str, canonical_base: str) -> str | None:
    """`normalize(ref, canonical_base)`, with a shortcut for the plain
    relative paths most hrefs are: a string join costs a quarter of a parse
    (bench/url_cost.py).  `canonical_base` must be an output of `normalize`."""
    if _PLAIN_PATH_RE.fullmatch(ref) and "/." not in ref and not ref.startswith("//"):
        origin, directory = _base_parts(canonical_base)
        return origin + ref if ref.startswith("/") else directory + ref
    return normalize(ref, canonical_base)


@functools.lru_cache(maxsize=256)
def _base_parts(canonical_base: str) -> tuple[str, str]:
    """("scheme://host[:port]", the base up to its last "/" before any query)."""
    start = canonical_base.index("//") + 2
    origin_end = canonical_base.index("/", start)
    query = canonical_base.find("?")
    path_end = len(canonical_base) if query < 0 else query
    return canonical_base[:origin_end], canonical_base[: canonical_base.rindex("/", 0, path_end) + 1]


def check_start_url(url: str) -> str:
    """Return the canonical form of a user-submitted start URL.

    Unlike links found on pages, a start URL is resolved against nothing, so a
    missing scheme is the user's mistake and is reported rather than guessed.
    """
    if not isinstance(url, str):
        raise InvalidURL(f"URL must be a string, not {type(url).__name__}")
    text = url.strip(_EDGE_JUNK).translate(_TAB_OR_NEWLINE)
    if not text:
        raise InvalidURL("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    href = _parse(text, None)
    if href is None:
        raise InvalidURL(_parse_problem(text))
    result = _crawlable(href)
    if result is None:
        raise InvalidURL(_policy_problem(href, text))
    if len(result) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    return result


def host_key(url: str) -> str:
    """`scheme://host[:port]` of a normalised URL, without userinfo: the
    unit of politeness, whose limits hold across the whole pool.  The Lua
    scripts' `host_of` (common/lua/lib.lua) builds the same string."""
    scheme, _, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{authority.rpartition('@')[2]}"


def split_url_list(text: str) -> list[str]:
    """Split a pasted or uploaded URL list into single URL tokens.

    `curl -d @file` strips newlines, gluing "http://a/xhttps://b/y" together,
    so a new http(s):// starts a new URL even without whitespace before it.
    """
    return [
        piece
        for token in text.split()
        for piece in _GLUED_URL_RE.split(token)
        if piece
    ]


def in_scope(url: str, start_url: str, scope: str) -> bool:
    """Whether a crawl started at `start_url` may follow `url` (both normalised)."""
    return scope_key(url, scope) == scope_key(start_url, scope)


def scope_key(url: str, scope: str) -> str:
    """What two URLs share when they are in the same scope: their host and
    port, their registrable domain, or (for "any") nothing.  A job keeps the
    keys of its start URLs, so each link costs one set lookup."""
    if scope == "any":
        return ""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
    here = host_key(url).partition("://")[2].lower()
    if scope == "host":
        # example.com and www.example.com are one site to their owners, and
        # a start page often redirects from one to the other.
        return here.removeprefix("www.")
    return registrable_domain(_host_only(here))


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """Return the eTLD+1 of `host`, or the host itself when it has none.

    IP addresses, single-label names and bare public suffixes have no
    registrable domain, so they only ever match themselves.
    """
    host = host.lower().rstrip(".")
    if "." not in host or _is_ip(host):
        return host
    parts = _public_suffix_list()(host)
    if parts.suffix:
        return f"{parts.domain}.{parts.suffix}" if parts.domain else host
    # The PSL's implicit "*" rule: an unlisted TLD is a public suffix itself.
    return ".".join(host.split(".")[-2:])


@functools.cache
def _public_suffix_list() -> tldextract.TLDExtract:
    """Build the extractor once, from the snapshot bundled with tldextract.

    No suffix URLs and no cache directory mean it can never fetch or write
    anything, so scope decisions are reproducible and work offline. Private
    suffixes (github.io, blogspot.com) count, so one user's site on a shared
    host is not the same domain as every other user's.
    """
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def _parse(url: str, base: str | None) -> str | None:
    """The Standard's serialisation of `url` against `base`; None where the
    Standard fails (a lone surrogate, which no HTML parser hands over, too)."""
    try:
        return ada_url.URL(url).href if base is None else ada_url.join_url(base, url)
    except ValueError:
        return None


def _crawlable(href: str) -> str | None:
    """Apply the crawler's policy to a serialised URL; None if it refuses it.

    A serialised http(s) URL always has a path, and percent-encodes "#",
    "?" and "@" everywhere but as delimiters, so plain string search finds
    its parts.  Dropped: the fragment (the same resource), the userinfo
    (never sent: a link would carry credentials to whatever host it names;
    and without it one page has one key) and an empty query (servers do
    not tell "/a?" from "/a").
    """
    if not href.startswith(_HTTP):
        return None
    href = href.partition("#")[0]
    start = 7 if href[4] == ":" else 8
    end = href.index("/", start)
    authority = href[start:end]
    if "@" in authority:
        authority = authority[authority.rindex("@") + 1:]
        href = href[:start] + authority + href[end:]
    if authority[0] != "[" and not _resolvable(authority.partition(":")[0]):
        return None
    if href[-1] == "?" and href.index("?") == len(href) - 1:
        href = href[:-1]
    return href


def _resolvable(host: str) -> bool:
    """Whether a name server can answer for `host`: DNS labels are 1 to 63
    characters.  Browsers admit others, but getaddrinfo() raises for them
    (Python's IDNA codec) where Twisted's resolver expects a clean failure."""
    host = host.removesuffix(".")
    if len(host) < 64:      # the usual case: no label can be too long
        return host != "" and host[0] != "." and host[-1] != "." and ".." not in host
    return all(0 < len(label) < 64 for label in host.split("."))


def _parse_problem(text: str) -> str:
    """Say why the Standard's parser refused a start URL."""
    match = _SCHEME_RE.match(text)
    if match is None:
        return f"no scheme in {_show(text)}"
    if match.group(1).lower() not in ("http", "https"):
        return _scheme_problem(text)
    rest = text[match.end():].lstrip("/\\")
    authority = rest[: _AUTHORITY_END_RE.search(rest + "/").start()]
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        host, _, port = host_port.partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = host_port.partition(":")
    if not host:
        return f"no host in {_show(text)}"
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return f"invalid port in {_show(text)}"
    return f"invalid host in {_show(text)}"


def _policy_problem(href: str, text: str) -> str:
    """Say why `_crawlable` refused a start URL that the Standard parses."""
    if not href.startswith(_HTTP):
        return _scheme_problem(text)
    return f"empty or over-long label in the host of {_show(text)}"


def _scheme_problem(text: str) -> str:
    """Say why the scheme is unusable; "example.com:8080/x" parses with the
    scheme "example.com", but the user simply left the scheme out."""
    match = _SCHEME_RE.match(text)
    if match is None:
        return f"no scheme in {_show(text)}"
    scheme, rest = match.group(1), text[match.end():]
    looks_like_host = "." in scheme or rest[:1].isdigit()
    if looks_like_host and not rest.startswith("//"):
        return f"no scheme in {_show(text)}"
    return f"unsupported scheme {scheme.lower()!r} in {_show(text)}"


def _host_only(host_port: str) -> str:
    """Drop the port, minding the colons inside a bracketed IPv6 host."""
    if host_port.startswith("["):
        return host_port.partition("]")[0] + "]"
    return host_port.partition(":")[0]


def _is_ip(host: str) -> bool:
    """Whether `host` is an IPv4 or (bracketed or bare) IPv6 address."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _show(url: str) -> str:
    """Quote a URL for an error message, cut short so messages stay readable."""
    return repr(url if len(url) <= 100 else url[:100] + "...")
