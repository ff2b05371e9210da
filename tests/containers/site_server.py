"""
The container tier's fixture website: a static directory served over HTTP,
with an optional delay per page so that a crawl is still in flight when the
test scales workers down or kills things.

Runs inside a container made from the stack's own base image (standard
library only, Python 3.11+):

    python3 site_server.py --root /srv/site --port 8080 --delay 0.8 --delay-prefix /b/

Only the paths under --delay-prefix are slowed, so the small site stays fast.

It also watches the crawler's manners: GET /_stats (from inside the
container, e.g. `docker compose exec site ...`) answers the most requests
it ever had in flight at once and how often robots.txt was asked for, both
counting only requests from other containers (not its own health check);
/_stats?reset=1 starts counting again.
"""

import argparse
import http.server
import json
import sys
import threading
import time
from functools import partial


class Manners:
    """Requests in flight from the crawler, their peak, robots.txt fetches."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.in_flight = self.most_in_flight = self.robots = self.requests = 0

    def begin(self, path):
        with self.lock:
            self.in_flight += 1
            self.requests += 1
            self.robots += path == "/robots.txt"
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def end(self):
        with self.lock:
            self.in_flight -= 1

    def report(self):
        with self.lock:
            return {"most_in_flight": self.most_in_flight, "robots": self.robots,
                    "requests": self.requests}


MANNERS = Manners()


class Handler(http.server.SimpleHTTPRequestHandler):
    delay = 0.0
    delay_prefixes = ()

    def _maybe_wait(self):
        if self.delay and self.path.startswith(self.delay_prefixes):
            time.sleep(self.delay)

    def do_GET(self):
        if self.path.startswith("/_stats"):
            self._stats()
            return
        if self.client_address[0] == "127.0.0.1":
            self._maybe_wait()
            super().do_GET()
            return
        MANNERS.begin(self.path)
        try:
            self._maybe_wait()
            super().do_GET()
        finally:
            MANNERS.end()

    def _stats(self):
        if "reset=1" in self.path:
            with MANNERS.lock:
                MANNERS.reset()
        body = json.dumps(MANNERS.report()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self._maybe_wait()
        super().do_HEAD()

    def log_message(self, format, *args):
        sys.stderr.write("site: %s %s\n" % (self.address_string(), format % args))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--delay-prefix", action="append", default=[])
    args = parser.parse_args(argv)
    Handler.delay = args.delay
    Handler.delay_prefixes = tuple(args.delay_prefix) or ("/",)
    server = http.server.ThreadingHTTPServer(
        ("0.0.0.0", args.port), partial(Handler, directory=args.root)
    )
    server.daemon_threads = True
    print(f"site: serving {args.root} on :{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
