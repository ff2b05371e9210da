"""
JSON over twisted.web: the plumbing every API resource shares.

A resource defines C{async def GET(self, request)} (or POST, DELETE) that
returns C{(status, body)} or raises L{ApiError}; L{JsonResource} turns that
into a response, a JSON 405 for other methods and a JSON 500 (logged) for
bugs.  L{BoundedRequest} refuses bodies over C{MAX_REQUEST_BYTES} without
buffering them.
"""

import hmac
import json
from urllib.parse import parse_qs

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

log = Logger()

JSON_TYPE = b"application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


def encode(body):
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def write_json(request, status, body, headers=None):
    request.setResponseCode(status)
    request.setHeader(b"content-type", JSON_TYPE)
    request.setHeader(b"cache-control", b"no-store")
    for name, value in (headers or {}).items():
        request.setHeader(name, value)
    data = encode(body)
    request.setHeader(b"content-length", str(len(data)).encode())
    if request.method != b"HEAD":
        request.write(data)
    request.finish()


def query(request):
    """
    The query string alone as C{{name: [values]}}: C{request.args} would mix
    in a form-encoded body, which for curl's C{-d} is a URL list.
    """
    _, _, raw = request.uri.partition(b"?")
    return parse_qs(raw.decode("utf-8", "replace"))


class JsonResource(Resource):
    """A resource whose methods are coroutines returning C{(status, body)}."""

    token = ""

    def getChild(self, path, request):
        return NotFound()

    def render(self, request):
        name = request.method.decode("ascii", "replace")
        if name == "HEAD":
            name = "GET"
        method = getattr(self, name, None) if name.isupper() else None
        if method is None:
            allowed = sorted(m for m in ("GET", "POST", "DELETE") if hasattr(self, m))
            write_json(request, 405, error_body("method_not_allowed", f"{name} is not allowed here"),
                       {b"allow": ", ".join(allowed).encode()})
            return NOT_DONE_YET
        ensureDeferred(self._respond(request, method))
        return NOT_DONE_YET

    async def _respond(self, request, method):
        finished = []
        request.notifyFinish().addBoth(finished.append)
        try:
            self.check_token(request)
            body_error = getattr(request, "body_error", None)
            if body_error is not None:
                raise body_error
            result = await method(request)
        except ApiError as e:
            result = (e.status, error_body(e.code, e.message), e.headers)
        except Exception:
            log.failure("request {method} {uri} failed", method=request.method, uri=request.uri)
            result = (500, error_body("internal", "internal error; the server logged it"))
        if finished or result is None:
            return
        write_json(request, *result)

    def check_token(self, request):
        if not self.token:
            return
        given = (request.getHeader(b"authorization") or b"").decode("latin-1")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <API_TOKEN>",
                           {b"www-authenticate": b"Bearer"})


class NotFound(JsonResource):
    async def GET(self, request):
        raise ApiError(404, "not_found", f"no such resource: {request.path.decode('utf-8', 'replace')}")

    POST = DELETE = GET


class BoundedRequest(Request):
    """A request that stops buffering its body past C{max_bytes}."""

    max_bytes = 1024 * 1024

    def gotLength(self, length):
        self._received = 0
        self.body_error = None
        if length is not None and length > self.max_bytes:
            self._too_large()
        super().gotLength(length if self.body_error is None else 0)

    def _too_large(self):
        self.body_error = ApiError(
            413, "body_too_large", f"the request body is over {self.max_bytes} bytes")

    def handleContentChunk(self, data):
        if self.body_error is not None:
            return
        self._received += len(data)
        if self._received > self.max_bytes:
            self._too_large()
            self.content.seek(0)
            self.content.truncate()
            return
        super().handleContentChunk(data)


def bounded_request_factory(max_bytes):
    """A C{Site.requestFactory} for requests capped at C{max_bytes}."""

    def make(*args, **kwargs):
        request = BoundedRequest(*args, **kwargs)
        request.max_bytes = max_bytes
        return request

    return make


class QuietSite(Site):
    """A Site without per-request access logs: at 1,000 requests/s they
    would cost more than the requests; put a proxy in front for those."""

    def log(self, request):
        pass


def body(request):
    request.content.seek(0)
    return request.content.read()
