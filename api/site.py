"""
The API's HTTP connections: a body cap that holds before the body is read,
deadlines for slow clients, and JSON answers for broken requests.

twisted.web's own guard against slow clients is C{HTTPChannel.timeOut},
an idle timeout that every arriving byte restarts: a client that sends a
header a byte every few seconds, or a body as slowly, keeps its connection
(and its buffers) as long as it likes.  L{GuardedChannel} adds deadlines
that no trickle moves: the request line and headers within
C{REQUEST_HEADER_TIMEOUT} of the connection (or of the previous answer,
on a kept-alive connection), the body within C{REQUEST_BODY_TIMEOUT} of
the headers.  A client that misses one gets a 408 and is cut off; one that
sent nothing at all is just closed.

A body that L{BoundedRequest} refuses (its C{Content-Length} is over the
cap, or a chunked body grows past it) is not read to its end: the request
goes to its resource at once, without a body, and is answered 413 (or 401
first, when its token is wrong); then the connection closes.
"""

from twisted.internet.interfaces import IHalfCloseableProtocol, ITCPTransport
from twisted.logger import Logger
from twisted.web.http import HTTPChannel
from twisted.web.server import Request
from zope.interface import implementer

from api.http import JSON_TYPE, PHRASES, ApiError, QuietSite, encode, error_body

log = Logger()

# How long a closing connection, its answer sent, goes on reading (and
# dropping) what its client still sends (see GuardedChannel.loseConnection).
LINGER_SECONDS = 5


def error_response(status, code, message):
    """A whole JSON error response, for a connection with no request to answer through."""
    data = encode(error_body(code, message))
    head = (b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
            b"connection: close\r\ncache-control: no-store\r\n\r\n")
    return head % (status, PHRASES[status], JSON_TYPE, len(data)) + data


class BoundedRequest(Request):
    """A request that stops buffering its body past C{max_bytes}."""

    max_bytes = 1024 * 1024

    def gotLength(self, length):
        self._received = 0
        self.body_error = None
        if length is not None and length > self.max_bytes:
            self._too_large()
            # A client that asked before sending gets its 413 instead of
            # twisted's "100 Continue".
            self.requestHeaders.removeHeader(b"expect")
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


@implementer(IHalfCloseableProtocol)
class GuardedChannel(HTTPChannel):
    """An HTTP/1.1 connection with deadlines and an early end to refused
    bodies; its site (L{ApiSite}) holds the settings."""

    _deadline = None
    _linger = None
    _idle = True
    _lingering = False

    def connectionMade(self):
        super().connectionMade()
        self._expect("headers", self.site.header_timeout)

    def dataReceived(self, data):
        if self._lingering:
            return
        self._idle = False
        super().dataReceived(data)

    def lineReceived(self, line):
        if not self._lingering:
            super().lineReceived(line)

    def rawDataReceived(self, data):
        if self._lingering:
            return
        super().rawDataReceived(data)
        if self._lingering or self._transferDecoder is None:
            return  # no body being read (any more)
        request = self.requests[-1]
        if request.body_error is not None:
            # A chunked body grew past the cap: answer now, read no more.
            self._close_after(request)
            self.allContentReceived()

    def allHeadersReceived(self):
        super().allHeadersReceived()
        request = self.requests[-1]
        if request.body_error is not None:
            # Its Content-Length is over the cap: lineReceived dispatches it
            # at once, as a request without a body.
            self._close_after(request)
            self.length = 0
            self._transferDecoder = None
        elif self.length != 0:
            self._expect("body", self.site.body_timeout)

    def allContentReceived(self):
        self._cancel_deadline()
        super().allContentReceived()

    def requestDone(self, request):
        if self.persistent:
            self._expect("headers", self.site.header_timeout)
        super().requestDone(request)

    def _close_after(self, request):
        self.persistent = False
        request.setHeader(b"connection", b"close")

    def _expect(self, part, seconds):
        self._cancel_deadline()
        self._idle = part == "headers"
        self._deadline = self.callLater(seconds, self._missed, part, seconds)

    def _cancel_deadline(self):
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _missed(self, part, seconds):
        self._deadline = None
        if not self._idle:
            log.info("cut off {peer}: no request {part} within {seconds} s",
                     peer=str(self.transport.getPeer()), part=part, seconds=seconds)
            self.transport.write(error_response(
                408, "request_timeout", f"the request {part} did not arrive within {seconds:g} s"))
        self.loseConnection()

    def _respondToBadRequestAndDisconnect(self):
        """twisted.web's answer to a request it cannot parse (bad request
        line, header or chunk, too many or too large headers), as JSON."""
        self.transport.write(error_response(
            400, "bad_request", "the request is not valid HTTP/1.1, or its headers are too large"))
        self.loseConnection()

    def lineLengthExceeded(self, line):
        self._respondToBadRequestAndDisconnect()

    def loseConnection(self):
        """
        Close after the answer, without losing it: closing a socket that
        still holds unread data sends a reset, and a client that is still
        sending a body it was refused may then lose the answer before it
        reads it.  So shut our side down once the answer is out, go on
        reading and dropping what comes for L{LINGER_SECONDS} more, then
        abort (L{writeConnectionLost}).
        """
        if self._lingering:
            return
        self._lingering = True
        self._cancel_deadline()
        self.setTimeout(None)
        self._dataBuffer = []
        self._networkProducer.unregisterProducer()
        if not ITCPTransport.providedBy(self.transport):
            self.transport.loseConnection()
            return
        self.transport.resumeProducing()
        self.transport.loseWriteConnection()

    def writeConnectionLost(self):
        """Everything is sent and our side is shut: the linger starts."""
        self._linger = self.callLater(LINGER_SECONDS, self.transport.abortConnection)

    def readConnectionLost(self):
        """The client has shut its side: close, as twisted.web does, once
        what is written has gone out."""
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self._cancel_deadline()
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        super().connectionLost(reason)


class ApiSite(QuietSite):
    """The API's site: capped request bodies, guarded connections, the
    settings from C{config}, time from C{reactor}."""

    protocol = GuardedChannel

    def __init__(self, resource, config, reactor=None):
        super().__init__(resource, reactor=reactor)
        self.requestFactory = bounded_request_factory(config.max_request_bytes)
        self.header_timeout = config.request_header_timeout
        self.body_timeout = config.request_body_timeout
