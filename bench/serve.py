"""
Serve the synthetic site on 127.0.0.1: nginx when installed, else a
Twisted static file server.

Why nginx first: the site server shares the machine's cores with the
crawlers under test, and nginx serves static files for a fraction of the
CPU a Python server needs, so it disturbs the measurement least.  The
fallback keeps the benchmark runnable anywhere our runtime venv exists;
the harness prints which one served.

C{python -m bench.serve ROOT PORT} is the fallback server itself.
"""

import shutil
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.stack import Process, free_port
from tests.wait import wait_for

_NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ text/html html; }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


class SiteServer:
    """One static server process for C{root}; C{kind} says which."""

    def __init__(self, root, workdir, use_nginx=True):
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        self.kind = "nginx" if use_nginx and nginx else "twisted"
        self._process = self._nginx(nginx) if self.kind == "nginx" else self._twisted()

    def _nginx(self, nginx):
        work = self.workdir / "nginx"
        (work / "tmp").mkdir(parents=True, exist_ok=True)
        conf = work / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(work=work, port=self.port, root=self.root))
        argv = [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "nginx-error.log")]
        return Process("nginx", argv, None, self.workdir)

    def _twisted(self):
        argv = [sys.executable, "-m", "bench.serve", str(self.root), str(self.port)]
        return Process("site", argv, None, self.workdir)

    def start(self):
        self._process.start()
        wait_for(self._answers, 30, f"the {self.kind} site server on port {self.port}")
        return self

    def _answers(self):
        if not self._process.alive:
            raise RuntimeError(f"the {self.kind} server exited:\n{self._process.output()[-2000:]}")
        with urllib.request.urlopen(self.base + "/", timeout=2) as response:
            return response.status == 200

    def describe(self):
        if self.kind == "nginx":
            return f"nginx on {self.base}"
        return f"Twisted static file server on {self.base} (nginx not installed or not used)"

    @property
    def pid(self):
        return self._process.proc.pid

    def stop(self):
        self._process.stop()


def main(root, port):
    """The fallback: twisted.web's static files, without access logs."""
    from twisted.internet import reactor
    from twisted.web.static import File

    from api.http import QuietSite

    resource = File(root)
    resource.contentTypes[".html"] = "text/html"
    reactor.listenTCP(int(port), QuietSite(resource), interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main(*sys.argv[1:3])


@contextmanager
def serving(root, server, keep, prefix):
    """
    A fresh work directory and the site at C{root} served from it, as
    C{(work, server)}; afterwards the server stops and the directory goes
    (unless C{keep}).  C{server} is the C{--server} choice: C{auto},
    C{nginx} (which must be installed) or C{twisted}.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    site = SiteServer(root, work, use_nginx=server != "twisted")
    if server == "nginx" and site.kind != "nginx":
        raise SystemExit("--server nginx: nginx is not installed")
    print(f"serving with {site.describe()}", flush=True)
    site.start()
    try:
        yield work, site
    finally:
        site.stop()
        if keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
