"""
C{make run}: the whole stack on this machine, without Docker.

Starts a redis-server of its own (port REDIS_PORT, data in RUN_DIR/redis;
RUN_DIR defaults to ./var), the API and WORKERS workers, and prints every
process's output with a prefix.  It supervises them as the containers'
C{restart: unless-stopped} does, so that a crash shows up in the log and
the stack heals instead of limping on: whichever process dies is started
again, after a pause that doubles from 1 s to 30 s while it keeps dying
within a minute of starting.  A child exiting 2 has a bad setting, which no
restart can fix: that stops the stack and runstack exits 2.  Ctrl-C or
SIGTERM stops everything: workers first (they drain), then the API, then
Redis.

Safe on a shared network without any setting, although it lets the
crawler reach private networks (ALLOW_PRIVATE_NETWORKS=1, to crawl a site
on this machine): the API's HTTP port listens on 127.0.0.1 unless API_HOST
says otherwise, and the ZeroMQ wire runs CURVE with keys made once in
RUN_DIR/keys (ZMQ_KEYS_DIR, if set, is used instead).  Webhooks are
signed with WEBHOOK_SECRET, else with a secret made once in
RUN_DIR/webhook-secret, so that a job's callback_url works out of the box.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from common.curve import make_keys

ROOT = Path(__file__).resolve().parent.parent
COLOURS = ("\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[31m")
RESET = "\033[0m"
POLL_SECONDS = 0.2
FIRST_DELAY, MAX_DELAY, STABLE_SECONDS = 1, 30, 60
STOP_TIMEOUT = 30
RELAY_GRACE = 5
CONFIG_ERROR = 2

_output = threading.Lock()


def _prefix(name, colour=""):
    if colour and sys.stdout.isatty():
        return f"{colour}{name:>8} |{RESET} "
    return f"{name:>8} | "


def _write(prefix, text):
    with _output:
        sys.stdout.write(prefix + text)
        sys.stdout.flush()


def say(text):
    """A line of runstack's own, prefixed like the children's."""
    _write(_prefix("runstack"), text + "\n")


def _relay(prefix, stream):
    for line in iter(stream.readline, b""):
        _write(prefix, line.decode("utf-8", "replace"))


def _kill_group(pgid):
    """Kill what a dead child left in its process group, as a container's init does."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it left nothing behind


def _describe(status):
    if status >= 0:
        return f"status {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    return f"status {status} (killed by {name})"


class Unrecoverable(Exception):
    """A child failed in a way that restarting it cannot fix."""


class Backoff:
    """
    The pause before a restart: 1 s, doubling up to 30 s while a process
    keeps dying within a minute of starting, and 1 s again once it has run
    a minute, so a crash loop does not flood the log or the machine.
    """

    def __init__(self):
        self._next = FIRST_DELAY

    def after(self, uptime):
        if uptime >= STABLE_SECONDS:
            self._next = FIRST_DELAY
        delay = self._next
        self._next = min(2 * delay, MAX_DELAY)
        return delay


class Child:
    """
    One supervised process, started again with the same name, argv,
    environment and prefix whenever it dies.
    """

    def __init__(self, name, argv, env, colour):
        self.name = name
        self._argv = argv
        self._env = env
        self._prefix = _prefix(name, colour)
        self._proc = None
        self._relay = None
        self._started = 0.0
        self._backoff = Backoff()
        self.restart_at = None

    def start(self):
        self._proc = subprocess.Popen(
            self._argv, cwd=ROOT, env=self._env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self._relay = threading.Thread(
            target=_relay, args=(self._prefix, self._proc.stdout), daemon=True)
        self._relay.start()
        self._started = time.monotonic()
        self.restart_at = None
        say(f"{self.name} started, pid {self._proc.pid}")

    def exited(self):
        """
        Its exit status the first time it is seen dead, else None.  Its
        process group is cleared and its last lines relayed first, so that
        what runstack says about it comes after what it said.
        """
        if self._proc is None or self._proc.poll() is None:
            return None
        _kill_group(self._proc.pid)
        self._relay.join(RELAY_GRACE)
        status, self._proc = self._proc.returncode, None
        return status

    def schedule_restart(self, now):
        """Set C{restart_at} by its backoff and return the pause."""
        delay = self._backoff.after(now - self._started)
        self.restart_at = now + delay
        return delay

    def terminate(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def wait_exited(self, timeout):
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop within {timeout} s of SIGTERM; killing it")
            self._proc.kill()
            self._proc.wait()
        self.exited()


def _tend(child, now):
    """Start C{child} again once it is due; notice when it died."""
    if child.restart_at is not None:
        if now >= child.restart_at:
            child.start()
        return
    status = child.exited()
    if status is None:
        return
    if status == CONFIG_ERROR:
        raise Unrecoverable(f"{child.name} exited with status 2 (a configuration error: "
                            "restarting cannot help); stopping the stack")
    delay = child.schedule_restart(now)
    say(f"{child.name} exited with {_describe(status)}; restarting in {delay} s")


def _stop_requested():
    """
    A list that becomes true on Ctrl-C or SIGTERM.  SIGINT explicitly too:
    a shell that starts us in the background hands us SIGINT ignored, and
    Ctrl-C must still stop the stack.
    """
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    return stopping


def _supervise(children, stopping):
    """Restart whatever dies until asked to stop; return runstack's exit status."""
    try:
        while not stopping:
            for child in children:
                _tend(child, time.monotonic())
            time.sleep(POLL_SECONDS)
    except Unrecoverable as e:
        say(str(e))
        return CONFIG_ERROR
    return 0


def _stop_all(redis, api, workers):
    """Workers first, together (each drains its tasks), then the API, then Redis."""
    for group in (workers, [api], [redis]):
        for child in group:
            child.terminate()
        for child in group:
            child.wait_exited(STOP_TIMEOUT)


def _port_taken(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_redis(port, redis, timeout=20):
    deadline = time.monotonic() + timeout
    while not _port_taken(port):
        if redis.exited() is not None or time.monotonic() > deadline:
            raise SystemExit(f"redis-server did not start on port {port}")
        time.sleep(0.05)


def _redis_argv(port, data):
    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    if _port_taken(port):
        raise SystemExit(f"port {port} is taken; run with REDIS_PORT=<free port>")
    data.mkdir(parents=True, exist_ok=True)
    return [redis, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
            "--appendonly", "yes", "--save", ""]


def _children(redis_argv, env, workers, run_dir):
    redis = Child("redis", redis_argv, env, COLOURS[0])
    api = Child("api", [sys.executable, "-m", "api"], env, COLOURS[1])
    crawlers = [
        Child(f"worker{n}", [sys.executable, "-m", "worker"],
              {**env, "WORKER_HEARTBEAT_FILE": str(run_dir / f"worker{n}.alive")},
              COLOURS[(n + 1) % len(COLOURS)])
        for n in range(1, workers + 1)]
    return redis, api, crawlers


def _keys_dir(run_dir):
    """ZMQ_KEYS_DIR as the user set it (empty: plaintext on loopback), else
    RUN_DIR/keys, made on the first run and kept for the next."""
    if "ZMQ_KEYS_DIR" in os.environ:
        return os.environ["ZMQ_KEYS_DIR"]
    keys = run_dir / "keys"
    made = make_keys(keys)
    if made:
        say(f"made the {' and '.join(made)} CURVE keys in {keys}")
    return str(keys)


def _webhook_secret(run_dir):
    """WEBHOOK_SECRET as the user set it, else RUN_DIR/webhook-secret's,
    made on the first run (readable by this user only) and kept."""
    if os.environ.get("WEBHOOK_SECRET"):
        return os.environ["WEBHOOK_SECRET"]
    path = run_dir / "webhook-secret"
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32) + "\n")
        say(f"made the webhook signing secret in {path}")
    return path.read_text().strip()


def main():
    workers = int(os.environ.get("WORKERS", "2"))
    redis_port = int(os.environ.get("REDIS_PORT", "6379"))
    run_dir = Path(os.environ.get("RUN_DIR", ROOT / "var")).resolve()
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "REDIS_URL": os.environ.get("REDIS_URL", f"redis://127.0.0.1:{redis_port}/0"),
           "ALLOW_PRIVATE_NETWORKS": os.environ.get("ALLOW_PRIVATE_NETWORKS", "1"),
           "API_HOST": os.environ.get("API_HOST", "127.0.0.1"),
           "ZMQ_KEYS_DIR": _keys_dir(run_dir),
           "WEBHOOK_SECRET": _webhook_secret(run_dir)}
    redis, api, crawlers = _children(
        _redis_argv(redis_port, run_dir / "redis"), env, workers, run_dir)
    stopping = _stop_requested()
    try:  # whatever happens to runstack, its children stop with it
        redis.start()
        _wait_for_redis(redis_port, redis)
        for child in (api, *crawlers):
            child.start()
        say(f"stack up: API on http://localhost:{os.environ.get('API_PORT', '8000')}, "
            f"{workers} worker(s), Redis on {redis_port}; Ctrl-C stops it")
        status = _supervise([redis, api, *crawlers], stopping)
    finally:
        _stop_all(redis, api, crawlers)
        say("stack stopped")
    raise SystemExit(status)


if __name__ == "__main__":
    main()
