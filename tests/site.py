"""
A fixture website on 127.0.0.1, served from a dict in a thread.

Routes map a path to C{(status, headers, body)}; a body may be a callable
for behaviour (a hang, a slow page).  Every request is counted, so tests can
assert what the crawler did and did not fetch.
"""

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTML = "text/html; charset=utf-8"


def page(body, status=200, content_type=HTML, **headers):
    return status, {"Content-Type": content_type, **headers}, body


class FixtureSite:
    def __init__(self, routes):
        self.routes = dict(routes)
        self.hits = Counter()
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                site.hits[self.path] += 1
                status, headers, body = site.routes.get(
                    self.path, page("<h1>not found</h1>", status=404))
                if callable(body):
                    body = body(site)
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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path):
        return self.base + path

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
