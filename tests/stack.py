"""
Real processes for integration tests: a redis-server of our own, the API,
workers, and a small JSON client for the HTTP API.

Nothing here talks to a server the tests did not start.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from common.curve import make_keys
from tests.wait import wait_for

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30
JOB_TIMEOUT = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process with its output in a log file, shown on failure."""

    def __init__(self, name, argv, env, log_dir):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = Path(log_dir) / f"{name}.log"
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        return self

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        """kill -9: no cleanup, no goodbye."""
        if self.alive:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self, timeout=30):
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"{self.name} did not stop within {timeout} s of SIGTERM")
        return self.proc.returncode if self.proc else None

    def output(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class RedisServer(Process):
    def __init__(self, workdir, appendonly=False):
        self.port = free_port()
        redis = shutil.which("redis-server")
        if redis is None:
            raise RuntimeError("redis-server is not installed; `make test` installs it")
        data = Path(workdir) / "redis"
        data.mkdir(exist_ok=True)
        argv = [redis, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data),
                "--save", "", "--appendonly", "yes" if appendonly else "no"]
        super().__init__("redis", argv, dict(os.environ), workdir)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        super().start()
        wait_for(self._answers, START_TIMEOUT, f"redis-server on port {self.port}")
        return self

    def _answers(self):
        return self.command("PING") == "PONG"

    def command(self, *words):
        """One command over RESP, for tests to look at the store directly."""
        request = f"*{len(words)}\r\n" + "".join(f"${len(str(w).encode())}\r\n{w}\r\n" for w in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(request.encode())
            return _read_reply(s.makefile("rb"))

    def restart(self):
        """Stop (Redis writes its append-only file) and start on the same port and data."""
        self.stop()
        return self.start()


def _read_reply(stream):
    """A RESP reply: integers, strings, nil and arrays of them."""
    line = stream.readline().decode().rstrip("\r\n")
    kind, rest = line[0], line[1:]
    if kind == "-":
        raise RuntimeError(rest)
    if kind == ":":
        return int(rest)
    if kind == "+":
        return rest
    if kind == "$":
        return None if rest == "-1" else stream.read(int(rest) + 2)[:-2].decode()
    return [_read_reply(stream) for _ in range(int(rest))]


class Client:
    """JSON over HTTP to the API under test."""

    def __init__(self, base):
        self.base = base

    def request(self, method, path, body=None, content_type=None, headers=None):
        data = body
        if body is not None and not isinstance(body, bytes):
            data = json.dumps(body).encode()
            content_type = content_type or "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method, path, body=None, **kwargs):
        status, headers, raw = self.request(method, path, body, **kwargs)
        return status, json.loads(raw)

    def submit(self, urls, **options):
        status, job = self.json("POST", "/jobs", {"urls": urls, **options})
        assert status == 201, job
        return job["id"]

    def job(self, job_id):
        status, job = self.json("GET", f"/jobs/{job_id}")
        assert status == 200, job
        return job

    def wait_done(self, job_id, timeout=JOB_TIMEOUT, interval=0.05):
        def finished():
            job = self.job(job_id)
            return job if job["status"] in ("completed", "cancelled") else None

        return wait_for(finished, timeout, f"job {job_id} to complete", interval)

    def lines(self, path):
        status, _, raw = self.request("GET", path)
        assert status == 200, raw
        return [line for line in raw.decode("utf-8").split("\n") if line]

    def crawl(self, urls, timeout=JOB_TIMEOUT, **options):
        """Submit a job, wait for it to end: C{(job, pages, images)}, the
        last two by URL as L{pages} and L{images} give them."""
        job = self.wait_done(self.submit(urls, **options), timeout)
        return job, self.pages(job["id"]), self.images(job["id"])

    def images(self, job_id):
        return {json.loads(line)["url"]: json.loads(line)
                for line in self.lines(f"/jobs/{job_id}/images?format=ndjson")}

    def pages(self, job_id):
        return {json.loads(line)["url"]: json.loads(line)
                for line in self.lines(f"/jobs/{job_id}/pages?format=ndjson")}


class Stack:
    """An API and workers against one Redis, on free ports, in C{workdir}."""

    def __init__(self, workdir, redis, **settings):
        self.workdir = Path(workdir)
        self.redis = redis
        self.api_port = free_port()
        self.tasks_port, self.links_port = free_port(), free_port()
        # CURVE on the wire, as make run and the compose file have it.
        make_keys(self.workdir / "keys")
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": redis.url,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.api_port),
            "ZMQ_TASKS_BIND": f"tcp://127.0.0.1:{self.tasks_port}",
            "ZMQ_LINKS_BIND": f"tcp://127.0.0.1:{self.links_port}",
            "ZMQ_TASKS_CONNECT": f"tcp://127.0.0.1:{self.tasks_port}",
            "ZMQ_LINKS_CONNECT": f"tcp://127.0.0.1:{self.links_port}",
            "ZMQ_KEYS_DIR": str(self.workdir / "keys"),
            "ALLOW_PRIVATE_NETWORKS": "1",
            "LEASE_SECONDS": "6",
            "REAP_INTERVAL": "0.2",
            "HEARTBEAT_SECONDS": "0.5",
            "FETCH_TIMEOUT": "3",
            "DRAIN_SECONDS": "5",
            "WORKER_CONCURRENCY": "4",
            # Admission control off: tests submit hundreds of jobs from one
            # client; tests/integration/test_admission.py turns it on.
            "CLIENT_JOBS_PER_MINUTE": "0",
            "TOTAL_JOBS_PER_MINUTE": "0",
            "CLIENT_LIVE_JOBS": "0",
            "CLIENT_PAGES_PER_HOUR": "0",
            **{k: str(v) for k, v in settings.items()},
        }
        self.api = None
        self.workers = []
        self.client = Client(f"http://127.0.0.1:{self.api_port}")
        self._spawned = 0

    def start_api(self):
        self.api = Process("api", [sys.executable, "-m", "api"], self.env, self.workdir).start()
        wait_for(self._ready, START_TIMEOUT, "the API's /readyz", interval=0.1)
        return self.api

    def _ready(self):
        if not self.api.alive:
            raise AssertionError(f"the API exited:\n{self.api.output()[-3000:]}")
        return self.client.request("GET", "/readyz")[0] == 200

    def start_worker(self):
        self._spawned += 1
        name = f"worker{self._spawned}"
        env = {**self.env, "WORKER_ID": name,
               "WORKER_HEARTBEAT_FILE": str(self.workdir / f"{name}.alive")}
        worker = Process(name, [sys.executable, "-m", "worker"], env, self.workdir).start()
        self.workers.append(worker)
        return worker

    def start(self, workers=2):
        self.start_api()
        for _ in range(workers):
            self.start_worker()
        return self

    def stop(self):
        for process in [*self.workers, self.api]:
            if process is not None:
                process.stop()

    def logs(self):
        return "\n".join(f"--- {p.name} ---\n{p.output()[-4000:]}"
                         for p in [self.api, *self.workers] if p is not None)
