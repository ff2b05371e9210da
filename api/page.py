"""
The web page: C{GET /} for a browser, and its few static files.

The files (C{api/static/}) are read once at start and served from memory
with an ETag, so a browser revalidates with one small request and gets a
304.  They hold no data and need no token: the page asks for the token and
sends it with every API call it makes (L{api.http.Tokens}).

The page is the one place where strings from crawled pages meet a
browser, so it is served with a Content-Security-Policy that lets scripts
and styles come only from here (no inline code at all) and images from
anywhere: even a bug that put crawled text into markup would run nothing.
"""

import hashlib
from pathlib import Path

from api.http import JsonResource, NotFound

STATIC = Path(__file__).resolve().parent / "static"
FILES = {
    "index.html": b"text/html; charset=utf-8",
    "app.js": b"text/javascript; charset=utf-8",
    "app.css": b"text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    b"content-security-policy": (
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    # Always revalidated (cheap, with the ETag), so a new release shows at once.
    b"cache-control": b"no-cache",
}


def _ranges(accept):
    """C{[(type, subtype, q)]} of an Accept header; malformed q values count as 0."""
    ranges = []
    for item in accept.split(","):
        media, *params = item.split(";")
        kind, _, sub = media.strip().lower().partition("/")
        q = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if kind and sub:
            ranges.append((kind, sub, q))
    return ranges


def _quality(ranges, kind, sub):
    """The q of the most specific range matching C{kind/sub} (RFC 9110 12.5.1), or 0."""
    best, q = -1, 0.0
    for r_kind, r_sub, r_q in ranges:
        if (r_kind, r_sub) == (kind, sub):
            rank = 2
        elif (r_kind, r_sub) == (kind, "*"):
            rank = 1
        elif (r_kind, r_sub) == ("*", "*"):
            rank = 0
        else:
            continue
        if rank > best:
            best, q = rank, r_q
    return q


def wants_html(accept):
    """
    Whether a request with this Accept header gets the page rather than
    JSON: only when it prefers C{text/html} to C{application/json}
    strictly, so curl's C{*/*}, no header at all and JSON clients keep the
    JSON they always had, while every browser gets the page.
    """
    ranges = _ranges(accept or "")
    html = _quality(ranges, "text", "html")
    return html > 0 and html > _quality(ranges, "application", "json")


class StaticFile:
    """One file of C{api/static/}, in memory, with its ETag."""

    def __init__(self, name):
        self.body = (STATIC / name).read_bytes()
        self.content_type = FILES[name]
        self.etag = b'"' + hashlib.sha256(self.body).hexdigest()[:32].encode() + b'"'

    def render(self, request):
        """The file, or a 304 when the browser's copy is this one."""
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"etag", self.etag)
        request.setHeader(b"vary", b"Accept")
        matches = request.getHeader(b"if-none-match") or b""
        if self.etag in [tag.strip() for tag in matches.split(b",")]:
            request.setResponseCode(304)
            return b""
        request.setHeader(b"content-type", self.content_type)
        request.setHeader(b"content-length", str(len(self.body)).encode())
        return b"" if request.method == b"HEAD" else self.body


def load():
    """Every static file, read now: a checkout without them fails at start, not per request."""
    return {name: StaticFile(name) for name in FILES}


class Static(NotFound):
    """C{/static/NAME}: only the files listed in L{FILES}; anything else is a JSON 404."""

    def __init__(self, files):
        super().__init__()
        self.files = files

    def getChild(self, path, request):
        found = self.files.get(path.decode("utf-8", "replace"))
        if found is None or request.postpath:
            return NotFound()
        return _FileResource(found)


class _FileResource(JsonResource):
    """One file for GET and HEAD; other methods get the API's JSON 405."""

    isLeaf = True

    def __init__(self, file):
        super().__init__()
        self.file = file

    async def GET(self, request):
        request.write(self.file.render(request))
        request.finish()
