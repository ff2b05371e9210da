"""
A fixture website on a loopback address, served from a dict in a thread.

Routes map a path to C{(status, headers, body)}; a body may be a callable
for behaviour (a hang, a slow page).  A route may also be a list of such
answers, one per request in turn (the last one repeats: "503, then 200"),
or a callable C{route(site)} returning one (for headers computed when the
request comes, such as an HTTP-date).

Every request is counted (C{hits}) and recorded (C{requests}: path, start
and end on C{time.monotonic}, and how many requests were in flight on this
site at its start), so tests can assert what the crawler did and did not
fetch, how many fetches it had in flight at once and how it spaced them.

One site is one host: give each its own loopback address (C{host=
"127.0.0.2"}, C{"127.0.0.3"}, ...; Linux routes all of 127/8 to lo) or use
several on 127.0.0.1, each on its own port.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTML = "text/html; charset=utf-8"


def page(body, status=200, content_type=HTML, **headers):
    return status, {"Content-Type": content_type, **headers}, body


@dataclass
class Request:
    """One request as the site saw it."""

    path: str
    host: str                   # the address it was served on
    start: float                # time.monotonic() when the request had arrived
    in_flight: int              # requests in flight on this site at its start, itself included
    end: float = None           # when its answer was ready, just before it was sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128    # a crawler over its limit must be seen, not queued by the kernel


class FixtureSite:
    def __init__(self, routes, host="127.0.0.1"):
        self.routes = dict(routes)
        self.hits = Counter()
        self.requests = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                record, n = site._arrived(self.path)
                try:
                    status, headers, body = site._answer(self.path, n)
                    if callable(body):
                        body = body(site)
                finally:
                    site._answered(record)
                if isinstance(body, str):
                    body = body.encode("utf-8")
                if status is None:          # not HTTP at all
                    self.wfile.write(body)
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._stream(body)

            def _stream(self, chunks):
                """A body of unknown length, until the client hangs up."""
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self._server = _Server((host, 0), Handler)
        self.host = host
        self.port = self._server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _arrived(self, path):
        with self._lock:
            self._in_flight += 1
            self.hits[path] += 1
            record = Request(path, self.host, time.monotonic(), self._in_flight)
            self.requests.append(record)
            return record, self.hits[path]

    def _answered(self, record):
        """Counted out before the answer is sent: the crawler cannot start
        its next fetch before it has this one, so the count never runs ahead."""
        with self._lock:
            self._in_flight -= 1
            record.end = time.monotonic()

    def _answer(self, path, n):
        route = self.routes.get(path, page("<h1>not found</h1>", status=404))
        if isinstance(route, list):
            route = route[min(n, len(route)) - 1]
        return route(self) if callable(route) else route

    def url(self, path):
        return self.base + path

    # What the crawler did to this host.

    def seen(self, path=None):
        """The requests so far (for C{path} only, if given), in arrival order."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def max_in_flight(self):
        return max((r.in_flight for r in self.seen()), default=0)

    def gaps(self, requests=None):
        """Seconds between consecutive starts, as C{(gap, earlier, later)}."""
        starts = requests if requests is not None else self.seen()
        return [(b.start - a.start, a, b) for a, b in zip(starts, starts[1:])]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def hang(site):
    """A body that never comes while the test runs (a poison page)."""
    site.release.wait(120)
    return b""


def slow(seconds, html):
    """A body that takes C{seconds} to come, so a crawl is mid-flight long
    enough for a fault to hit it."""

    def body(site):
        site.release.wait(seconds)
        return html

    return body


def endless(first, filler=b"<p>" + b"x" * 1020 + b"</p>", limit=512 * 1024 * 1024):
    """A body that never ends (up to a bound, so the server stops by itself)."""

    def body(site):
        def chunks():
            yield first
            for _ in range(limit // len(filler)):
                if site.release.is_set():
                    return
                yield filler
        return chunks()

    return body
