"""
JSON over twisted.web: the plumbing every API resource shares.

A resource defines C{async def GET(self, request)} (or POST, DELETE) that
returns C{(status, body)} or raises L{ApiError}; L{JsonResource} turns that
into a response, a JSON 405 for other methods and a JSON 500 (logged) for
bugs.  L{Tokens} guards a resource with bearer tokens; L{TimedStore} makes
a Redis that does not answer a 503 within seconds.  The connection level
(body cap, deadlines) is L{api.site}.
"""

import functools
import hashlib
import hmac
import json
from http import HTTPStatus
from types import CoroutineType
from urllib.parse import parse_qs

from twisted.internet.defer import Deferred, TimeoutError, ensureDeferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from common.store import redis_down

log = Logger()

JSON_TYPE = b"application/json; charset=utf-8"
# twisted.web knows no phrase for 422 (and a few others) and sends
# "Unknown Status"; Python's table has them all.
PHRASES = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
# What a 503 asks a client to wait: Redis restarts take seconds, and the
# pool reconnects within two (common.store.connect).
RETRY_AFTER_SECONDS = 5


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
    """
    Compact UTF-8 JSON.  A lone surrogate (JSON may carry one, as C{\\ud800})
    cannot be UTF-8: it goes out as the same JSON escape instead of raising
    and leaving the client without an answer.
    """
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "backslashreplace") + b"\n"


def write_json(request, status, body, headers=None):
    request.setResponseCode(status, PHRASES.get(status))
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
    in a form-encoded body, which for curl's C{-d} is a URL list.  Blank
    values are kept: C{?max_depth=} is a bad value to refuse, not the default.
    """
    _, _, raw = request.uri.partition(b"?")
    return parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)


def _digest(value):
    return hashlib.sha256(value).digest()


class Tokens:
    """
    The bearer tokens a resource accepts; none at all leaves it open.

    A request's C{Authorization} header is compared with every token, all
    of them every time and each in constant time, as SHA-256 digests: the
    time taken says neither which token matched nor how long any is.
    C{setting} names where the tokens come from, for the 401's message.
    """

    def __init__(self, tokens=(), setting="API_TOKEN"):
        self._digests = tuple(_digest(b"Bearer " + token.encode("ascii")) for token in tokens)
        self._setting = setting

    def __bool__(self):
        return bool(self._digests)

    def check(self, request):
        """@raise ApiError: 401, unless the request carries one of the tokens."""
        if not self._digests:
            return
        given = _digest(request.getHeader(b"authorization") or b"")
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(given, digest)
        if not matched:
            raise ApiError(401, "unauthorized", f"send Authorization: Bearer <{self._setting}>",
                           {b"www-authenticate": b"Bearer"})


class JsonResource(Resource):
    """A resource whose methods are coroutines returning C{(status, body)}."""

    tokens = Tokens()

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
        ensureDeferred(self._respond(request, method)).addErrback(_unwritten, request)
        return NOT_DONE_YET

    async def _respond(self, request, method):
        finished = []
        request.notifyFinish().addBoth(finished.append)
        try:
            self.tokens.check(request)
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
        if request.startedWriting:
            # A streamed export failed part way: cut the connection, so
            # that the client cannot take the part for the whole.
            request.loseConnection()
            return
        write_json(request, *result)


def _unwritten(failure, request):
    """A response that could not be written (a bug) closes its connection
    instead of leaving the client waiting on it for ever."""
    log.failure("writing the response to {method} {uri} failed", failure,
                method=request.method, uri=request.uri)
    request.loseConnection()


class NotFound(JsonResource):
    async def GET(self, request):
        raise ApiError(404, "not_found", f"no such resource: {request.path.decode('utf-8', 'replace')}")

    POST = DELETE = GET


class TimedStore:
    """
    The job store as requests use it.  txredisapi's pool holds a command
    while Redis is down or restarting (it reconnects), so a request would
    wait as long as Redis does.  Here every call that returns a Deferred or
    a coroutine has C{seconds} on C{clock}; one that times out or finds
    Redis unreachable fails with a 503 C{unavailable} and C{Retry-After}.
    Other failures pass through unchanged: a bug stays a 500.
    """

    def __init__(self, store, clock, seconds):
        self._store = store
        self._clock = clock
        self._seconds = seconds

    def __getattr__(self, name):
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute
        return functools.partial(self._call, name, attribute)

    def _call(self, name, method, *args, **kwargs):
        result = method(*args, **kwargs)
        if isinstance(result, CoroutineType):
            result = Deferred.fromCoroutine(result)
        if not isinstance(result, Deferred):
            return result
        result.addTimeout(self._seconds, self._clock)
        return result.addErrback(self._unavailable, name)

    def _unavailable(self, failure, name):
        if not (failure.check(TimeoutError) or redis_down(failure.value)):
            return failure
        log.warn("the job store failed {call}: {error}", call=name, error=failure.getErrorMessage())
        what = (f"did not answer within {self._seconds:g} s" if failure.check(TimeoutError)
                else "is unreachable")
        raise ApiError(503, "unavailable", f"the job store {what}; try again shortly",
                       {b"retry-after": str(RETRY_AFTER_SECONDS).encode()})


class QuietSite(Site):
    """A Site without per-request access logs: at 1,000 requests/s they
    would cost more than the requests; put a proxy in front for those."""

    def log(self, request):
        pass


def body(request):
    request.content.seek(0)
    return request.content.read()
