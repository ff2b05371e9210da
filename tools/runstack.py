"""
C{make run}: the whole stack on this machine, without Docker.

Starts a redis-server of its own (data in ./var/redis, port REDIS_PORT),
the API and WORKERS workers, prints every process's output with a prefix,
and stops them all, API last, on Ctrl-C or when any of them dies.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLOURS = ("\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[31m")
RESET = "\033[0m"


def _port_taken(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _relay(name, colour, stream, lock):
    prefix = f"{colour}{name:>8} |{RESET} " if sys.stdout.isatty() else f"{name:>8} | "
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.write(prefix + line.decode("utf-8", "replace"))
            sys.stdout.flush()


def _spawn(name, argv, env, lock, colour):
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    threading.Thread(target=_relay, args=(name, colour, proc.stdout, lock), daemon=True).start()
    return proc


def _wait_for_redis(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while not _port_taken(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"redis-server did not start on port {port}")
        time.sleep(0.05)


def main():
    workers = int(os.environ.get("WORKERS", "2"))
    redis_port = int(os.environ.get("REDIS_PORT", "6379"))
    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    if _port_taken(redis_port):
        raise SystemExit(f"port {redis_port} is taken; run with REDIS_PORT=<free port>")
    data = ROOT / "var" / "redis"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "REDIS_URL": os.environ.get("REDIS_URL", f"redis://127.0.0.1:{redis_port}/0"),
           "ALLOW_PRIVATE_NETWORKS": os.environ.get("ALLOW_PRIVATE_NETWORKS", "1")}
    lock = threading.Lock()
    procs = []
    redis_proc = _spawn("redis", [redis, "--port", str(redis_port), "--bind", "127.0.0.1",
                                  "--dir", str(data), "--appendonly", "yes", "--save", ""],
                        env, lock, COLOURS[0])
    procs.append(redis_proc)
    _wait_for_redis(redis_port, redis_proc)
    procs.append(_spawn("api", [sys.executable, "-m", "api"], env, lock, COLOURS[1]))
    for n in range(1, workers + 1):
        worker_env = {**env, "WORKER_HEARTBEAT_FILE": str(ROOT / "var" / f"worker{n}.alive")}
        procs.append(_spawn(f"worker{n}", [sys.executable, "-m", "worker"],
                            worker_env, lock, COLOURS[(n + 1) % len(COLOURS)]))
    print(f"stack up: API on http://localhost:{os.environ.get('API_PORT', '8000')}, "
          f"{workers} worker(s), Redis on {redis_port}; Ctrl-C stops it", flush=True)
    _supervise(procs)


def _supervise(procs):
    stopping = []
    # SIGINT explicitly too: a shell that starts us in the background hands
    # us SIGINT ignored, and Ctrl-C must still stop the stack.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    while not stopping and all(p.poll() is None for p in procs):
        time.sleep(0.2)
    # Workers first (they drain), then the API, then Redis.
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("stack stopped", flush=True)


if __name__ == "__main__":
    main()
