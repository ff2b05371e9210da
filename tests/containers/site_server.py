"""
The container tier's fixture website: a static directory served over HTTP,
with an optional delay per page so that a crawl is still in flight when the
test scales workers down or kills things.

Runs inside a container made from the stack's own base image (standard
library only, Python 3.11+):

    python3 site_server.py --root /srv/site --port 8080 --delay 0.8 --delay-prefix /b/

Only the paths under --delay-prefix are slowed, so the small site stays fast.
"""

import argparse
import http.server
import sys
import time
from functools import partial


class Handler(http.server.SimpleHTTPRequestHandler):
    delay = 0.0
    delay_prefixes = ()

    def _maybe_wait(self):
        if self.delay and self.path.startswith(self.delay_prefixes):
            time.sleep(self.delay)

    def do_GET(self):
        self._maybe_wait()
        super().do_GET()

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
