"""
The container tier: the real images from Dockerfile.api and Dockerfile.worker,
`fig.yml` on a real Docker engine with three workers, a fixture website in its
own container on the compose network, crawls submitted with curl.

Run it with:

    bash .ci/docker-engine.sh                          # engine up (installs if needed)
    REQUIRE_CONTAINERS=1 .venv/bin/python -m pytest -m containers tests/containers -v

Without an engine answering `docker info` the whole tier is skipped, unless
REQUIRE_CONTAINERS=1, which turns that into a failure.

Base images: PYTHON_IMAGE / REDIS_IMAGE from the environment if set; else
the official python:3.12-slim / redis:7 if already in the engine; else the
local debootstrap image made (or reused from cache) by .ci/base-images.sh.
The compose command is `docker compose` (v2) when it answers, else
`docker-compose` (1.29); COMPOSE_CMD overrides ("docker-compose").

Traffic goes only to 127.0.0.1 (the published API port) and, from the
workers, to the project's own fixture container.
"""

import json
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.stack import free_port
from tests.wait import Timeout, wait_for

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SITE = "http://site:8080"

# Fixture site timing: pages under /b/ answer after SITE_DELAY seconds, so a
# crawl of /b/ lasts long enough to scale or break things in the middle.
SITE_DELAY = float(os.environ.get("CONTAINERS_SITE_DELAY", "1.0"))
WORKERS = 3
WORKER_CONCURRENCY = 2


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "containers: needs a Docker engine; builds the images and runs fig.yml"
    )
    config.addinivalue_line(
        "markers", "container_faults: container tier fault tests (kill/restart containers mid-job)"
    )


# --------------------------------------------------------------------------
# Docker engine and compose command

def _run(cmd, timeout=120, check=True, env=None, cwd=REPO):
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, timeout=timeout, check=False,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stdout[-4000:]}"
        )
    return proc


def _engine_problem():
    """None when `docker info` answers, else why not."""
    if shutil.which("docker") is None:
        return "no `docker` client on PATH"
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20s"
    if proc.returncode != 0:
        lines = proc.stdout.strip().splitlines()
        return "`docker info` failed" + (": " + lines[-1] if lines else "")
    return None


def _compose_command():
    wanted = os.environ.get("COMPOSE_CMD")
    if wanted:
        return shlex.split(wanted)
    try:
        if subprocess.run(["docker", "compose", "version"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=20).returncode == 0:
            return ["docker", "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="session")
def docker_engine():
    problem = _engine_problem()
    compose = _compose_command() if problem is None else None
    if problem is None and compose is None:
        problem = "neither `docker compose` nor `docker-compose` is installed"
    if problem is None and shutil.which("curl") is None:
        problem = "no `curl` on PATH (the tier submits crawls with curl)"
    if problem is not None:
        reason = (f"container tier needs a Docker engine: {problem} "
                  "(start one with `bash .ci/docker-engine.sh`)")
        if os.environ.get("REQUIRE_CONTAINERS") == "1":
            pytest.fail("REQUIRE_CONTAINERS=1 but " + reason, pytrace=False)
        pytest.skip(reason)
    return compose


def _have_image(name):
    return subprocess.run(["docker", "image", "inspect", name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


@pytest.fixture(scope="session")
def base_images(docker_engine):
    python = os.environ.get("PYTHON_IMAGE") or (
        "python:3.12-slim" if _have_image("python:3.12-slim") else None)
    redis = os.environ.get("REDIS_IMAGE") or ("redis:7" if _have_image("redis:7") else None)
    if python is None or redis is None:
        proc = _run(["bash", str(REPO / ".ci" / "base-images.sh")], timeout=900)
        made = {}
        for line in proc.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export "):].partition("=")
                made[key] = value
        python = python or made["PYTHON_IMAGE"]
        redis = redis or made["REDIS_IMAGE"]
    return {"PYTHON_IMAGE": python, "REDIS_IMAGE": redis}


# --------------------------------------------------------------------------
# The fixture website

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


class FixtureSite:
    """Writes the site into a directory and knows what a crawl must find."""

    def __init__(self, root):
        self.root = Path(root)
        self.small_pages, self.small_images = set(), set()
        self.large_pages, self.large_images = set(), set()

    def _page(self, path, body, title):
        target = self.root / "site" / path.lstrip("/")
        if path.endswith("/"):
            target = target / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            "<!doctype html>\n<html><head><meta charset=utf-8>"
            f"<title>{title}</title>{body[0]}</head>\n<body>{body[1]}</body></html>\n"
        )

    def _image(self, path):
        target = self.root / "site" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(PNG_1x1)

    def write(self):
        (self.root / "site").mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "site_server.py", self.root / "site_server.py")
        (self.root / "site" / "robots.txt").write_text("User-agent: *\nDisallow:\n")
        self._write_small()
        self._write_large()
        for path in self.small_images | self.large_images:
            self._image(path[len(SITE):])
        # The server runs as nobody inside its container.
        for dirpath, dirnames, filenames in os.walk(self.root):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)

    def _write_small(self):
        """/a/: six fast pages, every kind of image reference, a cycle."""
        pages = {
            "/a/": (
                '<meta property="og:image" content="http://site:8080/a/img/og.png">',
                '<h1>Home</h1><img src="img/logo.png" alt="Logo">'
                '<img srcset="img/photo-1x.png 1x, img/photo-2x.png 2x" src="img/photo.png" alt="Photo">'
                '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="not an image to report">'
                '<a href="p1.html">one</a> <a href="p2.html">two</a> '
                '<a href="/a/p1.html#top">one again</a>',
            ),
            "/a/p1.html": (
                "",
                '<img data-src="img/lazy.png" src="img/placeholder.png" alt="lazy">'
                "<div style=\"background-image: url('img/bg.png')\">bg</div>"
                '<a href="p3.html">three</a> <a href="./">home</a>',
            ),
            "/a/p2.html": (
                "",
                '<picture><source srcset="img/pic.webp" type="image/webp">'
                '<img src="img/pic.png" alt="pic"></picture>'
                '<img src="/a/img/logo.png" alt="Logo again">'
                '<a href="deep/p4.html">four</a>',
            ),
            "/a/p3.html": (
                '<link rel="icon" href="/a/img/favicon.png">',
                '<a href="p1.html">back to one</a>',
            ),
            "/a/deep/p4.html": ("", '<img src="../img/deep.png" alt="deep"><a href="p5.html">five</a>'),
            "/a/deep/p5.html": ("", '<img src="/a/img/deepest.png" alt=""><a href="/a/">home</a>'),
        }
        for path, body in pages.items():
            self._page(path, body, path)
            self.small_pages.add(SITE + path)
        for name in ("logo", "photo-1x", "photo-2x", "photo", "og", "lazy", "placeholder",
                     "bg", "pic", "favicon", "deep", "deepest"):
            self.small_images.add(f"{SITE}/a/img/{name}.png")
        self.small_images.add(f"{SITE}/a/img/pic.webp")

    def _write_large(self, sections=6, leaves=7):
        """/b/: 1 + 6 + 42 slow pages (SITE_DELAY each), 50 images."""
        kinds = [
            lambda u: f'<img src="{u}" alt="leaf">',
            lambda u: f'<img data-src="{u}" alt="lazy leaf">',
            lambda u: f"<span style=\"background: url({u}) no-repeat\">x</span>",
            lambda u: f'<img srcset="{u} 640w" sizes="640px" alt="srcset leaf">',
        ]
        root_links = "".join(f'<a href="s{i}.html">section {i}</a> ' for i in range(sections))
        self._page("/b/", ("", '<img src="img/root.png" alt="root">' + root_links), "large")
        self.large_pages.add(SITE + "/b/")
        self.large_images.add(SITE + "/b/img/root.png")
        for i in range(sections):
            links = "".join(f'<a href="s{i}/p{j}.html">leaf {j}</a> ' for j in range(leaves))
            self._page(f"/b/s{i}.html", (
                "", f'<img srcset="img/s{i}.png 2x" alt="section">{links}<a href="./">up</a>'
            ), f"section {i}")
            self.large_pages.add(f"{SITE}/b/s{i}.html")
            self.large_images.add(f"{SITE}/b/img/s{i}.png")
            for j in range(leaves):
                image = f"/b/img/s{i}-p{j}.png"
                self._page(f"/b/s{i}/p{j}.html", (
                    "",
                    kinds[(i + j) % len(kinds)](image)
                    + '<img src="../img/shared.png" alt="shared">'
                    + f'<a href="p{(j + 1) % leaves}.html">next</a> '
                    + f'<a href="../s{i}.html">section</a> <a href="/b/">root</a>',
                ), f"leaf {i}.{j}")
                self.large_pages.add(f"{SITE}/b/s{i}/p{j}.html")
                self.large_images.add(SITE + image)
        self.large_images.add(SITE + "/b/img/shared.png")


# --------------------------------------------------------------------------
# The stack

class Stack:
    """One compose project: fig.yml + the fixture site, on a random name and port."""

    def __init__(self, compose, images, site_dir):
        self.project = "ic-test-" + secrets.token_hex(4)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.files = ["-f", str(REPO / "fig.yml"), "-f", str(HERE / "site.yml")]
        self.compose_cmd = compose
        self.env = dict(os.environ)
        self.env.pop("COMPOSE_FILE", None)
        self.env.update(images)
        self.env.update({
            "COMPOSE_PROJECT_NAME": self.project,
            "SITE_IMAGE": images["PYTHON_IMAGE"],
            "SITE_DIR": str(site_dir),
            "SITE_DELAY": str(SITE_DELAY),
            "API_IMAGE": "imagecrawler-api:containers-test",
            "WORKER_IMAGE": "imagecrawler-worker:containers-test",
            "API_PUBLISH": f"127.0.0.1:{self.port}",
            "API_TOKEN": "",
            "ALLOW_PRIVATE_NETWORKS": "1",
            "LEASE_SECONDS": "10",
            "REAP_INTERVAL": "1",
            "MAX_ATTEMPTS": "5",
            "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "FETCH_TIMEOUT": "15",
            "LOG_LEVEL": "info",
        })
        self.timings = {}

    # compose / docker
    def compose(self, *args, timeout=300, check=True):
        return _run(self.compose_cmd + ["-p", self.project] + self.files + list(args),
                    timeout=timeout, check=check, env=self.env)

    def containers(self, service=None, all=False):
        cmd = ["docker", "ps", "-q", "--no-trunc",
               "--filter", f"label=com.docker.compose.project={self.project}"]
        if all:
            cmd.insert(2, "-a")
        if service:
            cmd += ["--filter", f"label=com.docker.compose.service={service}"]
        return _run(cmd).stdout.split()

    def inspect(self, container, fmt):
        return _run(["docker", "inspect", "-f", fmt, container]).stdout.strip()

    def logs(self, tail=80):
        proc = self.compose("logs", "--no-color", f"--tail={tail}", check=False, timeout=60)
        return proc.stdout

    def save_logs(self):
        """Append the project's logs to a file in the temp dir; return its path."""
        path = Path(tempfile.gettempdir()) / f"{self.project}.log"
        if self.containers(all=True):
            with path.open("a") as f:
                f.write(f"=== {time.strftime('%H:%M:%S')} ===\n" + self.logs(tail=5000))
        return path

    def fail(self, message):
        raise AssertionError(f"{message}\n--- last log lines of {self.project} ---\n{self.logs()}")

    def wait_for(self, what, probe, timeout, interval=0.5):
        """Poll probe() until it returns a true value; fail with `what` and the logs."""
        try:
            return wait_for(probe, timeout, what, interval)
        except Timeout as e:
            self.fail(str(e))

    # HTTP, from the host to the published port only
    def http(self, path, timeout=10):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as response:
            return response.status, response.read()

    def curl(self, *args):
        proc = _run(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}"] + list(args),
                    timeout=30)
        body, _, code = proc.stdout.rpartition("\n")
        return int(code), body

    def ready(self):
        try:
            return self.http("/readyz", timeout=3)[0] == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_ready(self, timeout=120):
        self.wait_for(f"GET {self.base}/readyz to answer 200", self.ready, timeout)

    def service_healthy(self, service):
        ids = self.containers(service)
        return bool(ids) and all(
            self.inspect(c, "{{.State.Health.Status}}") == "healthy" for c in ids)

    def submit(self, urls, **options):
        body = json.dumps({"urls": urls, "scope": "host", "max_pages": 1000, **options})
        code, text = self.curl("-X", "POST", "-H", "Content-Type: application/json",
                               "--data-binary", body, self.base + "/jobs")
        if code != 201:
            self.fail(f"POST /jobs answered {code}: {text}")
        return json.loads(text)["id"]

    def job(self, job_id):
        code, text = self.curl(self.base + f"/jobs/{job_id}")
        assert code == 200, f"GET /jobs/{job_id} answered {code}: {text}"
        return json.loads(text)

    def wait_completed(self, job_id, timeout=180):
        seen = {}

        def completed():
            seen["job"] = self.job(job_id)
            return seen["job"] if seen["job"]["status"] == "completed" else None

        try:
            return wait_for(completed, timeout, f"job {job_id} to complete", 0.5)
        except Timeout as e:
            self.fail(f"{e}; last seen: {json.dumps(seen.get('job'))}")

    def image_urls(self, job_id):
        code, text = self.curl(self.base + f"/jobs/{job_id}/images?format=txt")
        assert code == 200, f"images export answered {code}: {text[:500]}"
        return set(line.strip() for line in text.splitlines() if line.strip())

    def pages(self, job_id):
        code, text = self.curl(self.base + f"/jobs/{job_id}/pages?format=ndjson")
        assert code == 200, f"pages export answered {code}: {text[:500]}"
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def scale_workers(self, n, timeout=180):
        self.compose("up", "-d", "--no-recreate", "--scale", f"worker={n}", timeout=timeout)


@pytest.fixture(scope="session")
def fixture_site():
    root = Path(tempfile.mkdtemp(prefix="ic-site-"))
    site = FixtureSite(root)
    site.write()
    yield site
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(docker_engine, base_images, fixture_site, request):
    stack = Stack(docker_engine, base_images, fixture_site.root)

    def cleanup():
        try:
            print(f"\ncompose logs of {stack.project}: {stack.save_logs()}")
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
        stack.compose("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout=180)
        # Belt and braces: anything that still carries the project's label.
        label = f"label=com.docker.compose.project={stack.project}"
        for kind in ("container", "network", "volume"):
            listing = ["docker", kind, "ls", "-q", "--filter", label]
            if kind == "container":
                listing.insert(3, "-a")
            ids = _run(listing, check=False).stdout.split()
            if ids:
                rm = ["docker", kind, "rm"] + (["-f"] if kind != "network" else []) + ids
                _run(rm, check=False)

    request.addfinalizer(cleanup)

    started = time.monotonic()
    stack.compose("build", timeout=900)
    stack.timings["build"] = time.monotonic() - started
    started = time.monotonic()
    stack.compose("up", "-d", "--scale", f"worker={WORKERS}", timeout=300)
    stack.wait_ready(timeout=120)
    stack.wait_for("the fixture site to be healthy", lambda: stack.service_healthy("site"), 60)
    stack.wait_for(f"{WORKERS} healthy workers", lambda: len(stack.containers("worker")) == WORKERS
                   and stack.service_healthy("worker"), 90)
    stack.timings["up"] = time.monotonic() - started
    print(f"\n{stack.project}: build {stack.timings['build']:.1f}s, "
          f"up+ready {stack.timings['up']:.1f}s, API on {stack.base}")
    return stack
