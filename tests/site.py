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
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
