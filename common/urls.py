"""URL normalisation and crawl scope, shared by the API and the workers.

Deduplication compares URLs as strings, so every URL that enters the system
goes through `normalize` to get one spelling per resource. The rules follow
browsers (the WHATWG URL standard) rather than a strict RFC 3986 reading,
because the URLs come out of HTML that was written and tested in browsers.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import quote, unquote, urljoin, urlsplit

import idna
import tldextract

MAX_URL_LENGTH = 2048
SCOPES = ("host", "domain", "any")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ABSOLUTE_HTTP = ("http://", "https://")
_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_EDGE_JUNK = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")
_FORBIDDEN_HOST_RE = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
# Browsers' percent-encode sets: everything else, including "%", is kept as
# written, which is what keeps normalisation idempotent (no double-encoding).
_PATH_SAFE = _PRINTABLE.translate(str.maketrans("", "", '"#<>?`{}'))
_QUERY_SAFE = _PRINTABLE.translate(str.maketrans("", "", "\"#<>'"))
_USERINFO_SAFE = _PATH_SAFE.translate(str.maketrans("", "", "/:;=@[\\]^|"))
_PATH_UNSAFE_RE = re.compile(r'[^\x21-\x7e]|["<>`{}]')
_QUERY_UNSAFE_RE = re.compile(r"[^\x21-\x7e]|[\"<>']")
_DOT_SEGMENTS = {
    ".": ".", "%2e": ".", "..": "..", ".%2e": "..", "%2e.": "..", "%2e%2e": "..",
}
# A URL glued to the previous one; "=" before it means a query parameter
# value such as ?next=http://..., which is part of the URL, not a new one.
_GLUED_URL_RE = re.compile(r"(?<!=)(?=https?://)", re.IGNORECASE)


class InvalidURL(ValueError):
    """A URL that cannot be crawled; the message is shown to API users as is."""


def normalize(url: str, base: str | None = None) -> str | None:
    """Return the canonical http(s) form of `url`, or None if it has none.

    Pages are full of hrefs that are not crawlable (mailto:, javascript:,
    broken hosts), so rejecting them is the normal case, not an error, and
    nothing a page contains may crash the worker.
    """
    if not isinstance(url, str) or not (base is None or isinstance(base, str)):
        return None
    try:
        return _canonical(url, base)
    except ValueError:
        return None


# A path-only reference made of characters that need no quoting and with no
# dot segment: joined to a canonical base, it is canonical as it stands.
_PLAIN_PATH_RE = re.compile(r"[A-Za-z0-9_~!$&'()*+,;=@/-][A-Za-z0-9._~!$&'()*+,;=@/-]*")


def resolve(ref: str, canonical_base: str) -> str | None:
    """`normalize(ref, canonical_base)`, with a shortcut for the plain
    relative paths most hrefs are: parsing dominated extraction otherwise.
    `canonical_base` must be an output of `normalize`."""
    if _PLAIN_PATH_RE.fullmatch(ref) and "/." not in ref and not ref.startswith("//"):
        return _join(canonical_base, ref)
    return normalize(ref, canonical_base)


def check_start_url(url: str) -> str:
    """Return the canonical form of a user-submitted start URL.

    Unlike links found on pages, a start URL is resolved against nothing, so a
    missing scheme is the user's mistake and is reported rather than guessed.
    """
    if not isinstance(url, str):
        raise InvalidURL(f"URL must be a string, not {type(url).__name__}")
    text = _clean(url)
    if not text:
        raise InvalidURL("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        result = _canonical(text, None)
    except InvalidURL:
        raise
    except ValueError as exc:
        raise InvalidURL(f"cannot parse {_show(text)}") from exc
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
    here = _host_and_port(url)
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


def _canonical(url: str, base: str | None) -> str:
    """Normalise or raise InvalidURL/ValueError saying what is wrong."""
    text = _clean(url)
    if base is not None:
        text = _join(base, text)
    if not text:
        raise InvalidURL("empty URL")
    parts = urlsplit(text)
    if parts.scheme not in _DEFAULT_PORTS:
        raise InvalidURL(_scheme_problem(text, url))
    if not parts.netloc:
        raise InvalidURL(f"no host in {_show(url)}")
    authority = _authority(parts.scheme, parts.netloc, url)
    path = _quote(_resolve_dots(parts.path) or "/", _PATH_SAFE, _PATH_UNSAFE_RE)
    query = _quote(parts.query, _QUERY_SAFE, _QUERY_UNSAFE_RE)
    return f"{parts.scheme}://{authority}{path}{'?' if query else ''}{query}"


def _join(base: str, ref: str) -> str:
    """Resolve `ref` against `base`; the shapes hrefs usually take are joined
    directly, since urljoin would dominate the cost of extracting a page."""
    if ref[:8].lower().startswith(_ABSOLUTE_HTTP):
        return ref
    if _SCHEME_RE.match(ref):
        return urljoin(_clean(base), ref)
    split = _split_base(base)
    if split is None:
        return ref
    scheme, origin, path, query = split
    if ref.startswith("//"):
        return f"{scheme}:{ref}"
    if ref.startswith("/"):
        return origin + ref
    if ref.startswith("?"):
        return origin + path + ref
    if not ref or ref.startswith("#"):
        return origin + path + query
    return origin + path[: path.rfind("/") + 1] + ref


@functools.lru_cache(maxsize=256)
def _split_base(base: str) -> tuple[str, str, str, str] | None:
    """(scheme, "scheme://authority", path, "?query") of an http(s) base URL;
    None for other bases, against which no relative reference is crawlable."""
    parts = urlsplit(_clean(base))
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return None
    query = f"?{parts.query}" if parts.query else ""
    return parts.scheme, f"{parts.scheme}://{parts.netloc}", parts.path or "/", query


def _clean(text: str) -> str:
    """Strip what browsers ignore: edge whitespace/controls, embedded tabs and
    newlines, and backslashes standing in for slashes before the query."""
    text = text.strip(_EDGE_JUNK).translate(_TAB_OR_NEWLINE)
    if "\\" not in text:
        return text
    cut = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=len(text))
    return text[:cut].replace("\\", "/") + text[cut:]


def _scheme_problem(text: str, original: str) -> str:
    """Say why the scheme is unusable; "example.com:8080/x" parses with the
    scheme "example.com", but the user simply left the scheme out."""
    match = _SCHEME_RE.match(text)
    if match is None:
        return f"no scheme in {_show(original)}"
    scheme, rest = match.group(1), text[match.end():]
    looks_like_host = "." in scheme or rest[:1].isdigit()
    if looks_like_host and not rest.startswith("//"):
        return f"no scheme in {_show(original)}"
    return f"unsupported scheme {scheme.lower()!r} in {_show(original)}"


def _authority(scheme: str, netloc: str, original: str) -> str:
    """Canonical [userinfo@]host[:port], without the scheme's default port."""
    userinfo, at, host_port = netloc.rpartition("@")
    if host_port.startswith("["):
        host, bracket, port = host_port[1:].partition("]")
        if not bracket or "%" in host or port[:1] not in ("", ":"):
            raise InvalidURL(f"invalid IPv6 host in {_show(original)}")
        host = f"[{ipaddress.IPv6Address(host).compressed}]"
        port = port[1:]
    else:
        host, _, port = host_port.partition(":")
        host = _domain(host, original)
    port = _port(port, scheme, original)
    return f"{_userinfo(userinfo)}{at}{host}{port}"


def _domain(host: str, original: str) -> str:
    """Lowercase, IDNA-encoded host; hosts a browser would refuse are refused."""
    if "%" in host:
        host = unquote(host, errors="strict")
    host = host.lower() if host.isascii() else _to_ascii(host)
    if not host:
        raise InvalidURL(f"no host in {_show(original)}")
    if _FORBIDDEN_HOST_RE.search(host):
        raise InvalidURL(f"invalid host in {_show(original)}")
    # DNS labels are 1 to 63 characters.  Browsers admit others, but no name
    # server can answer for them, and the resolver does not fail cleanly:
    # getaddrinfo() raises (Python's IDNA codec) where Twisted expects none.
    if not all(0 < len(label) < 64 for label in host.removesuffix(".").split(".")):
        raise InvalidURL(f"empty or over-long label in the host of {_show(original)}")
    return host


@functools.lru_cache(maxsize=1024)
def _to_ascii(host: str) -> str:
    """UTS #46 non-transitional processing without the STD3 rules, as browsers
    do: "faß.de" keeps its ß, and "☃.net" or "a_b.bücher.de" are accepted,
    which the strict IDNA 2008 encoder would reject."""
    mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    return ".".join(
        label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
        for label in mapped.split(".")
    )


def _port(port: str, scheme: str, original: str) -> str:
    """":N" for a non-default port, "" for none or the default one."""
    if not port:
        return ""
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise InvalidURL(f"invalid port in {_show(original)}")
    number = int(port)
    return "" if number == _DEFAULT_PORTS[scheme] else f":{number}"


def _userinfo(userinfo: str) -> str:
    """Quote user and password separately so the ":" between them survives."""
    if not userinfo:
        return ""
    user, colon, password = userinfo.partition(":")
    return quote(user, _USERINFO_SAFE) + colon + quote(password, _USERINFO_SAFE)


def _resolve_dots(path: str) -> str:
    """Apply "." and ".." segments (also percent-encoded ones) as browsers
    do, so /a/./b and /a/x/../b are the same page."""
    if "/." not in path and "/%2" not in path:
        return path
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        dots = _DOT_SEGMENTS.get(segment.lower())
        if dots is None:
            kept.append(segment)
        elif dots == ".." and kept:
            kept.pop()
    ends_in_dots = segments[-1].lower() in _DOT_SEGMENTS and bool(kept)
    return "/" + "/".join(kept) + ("/" if ends_in_dots else "")


def _quote(text: str, safe: str, unsafe_re: re.Pattern[str]) -> str:
    """Percent-encode as UTF-8 what the browser would, leaving existing %XX."""
    if not unsafe_re.search(text):
        return text
    return quote(text, safe)


def _host_and_port(url: str) -> str:
    """The part of a normalised URL's authority that identifies the server."""
    return urlsplit(url).netloc.rpartition("@")[2].lower()


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
