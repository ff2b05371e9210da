"""
Our stack on the synthetic site: a fresh redis-server (its own port and
temporary directory, AOF on as in fig.yml), the API and N workers as real
processes started by L{tests.stack}, settings for throughput, one job that
covers the whole site, and every measurement taken around that job.
"""

import json
import os
import sys
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime

from bench import procstat
from bench.score import score
from tests.stack import RedisServer, Stack
from tests.wait import wait_for

# The settings a throughput deployment would use; the benchmark site is a
# single host, so per-host politeness (pool-wide: 16 fetches per worker of
# the two) must not be what limits the crawl.
THROUGHPUT = {
    "LOG_LEVEL": "warn",
    "WORKER_CONCURRENCY": 16,
    "HOST_CONCURRENCY": 32,
    "MAX_HOST_CONCURRENCY": 32,
    "LEASE_SECONDS": 60,
    "REAP_INTERVAL": 1,
    "HEARTBEAT_SECONDS": 2,
    "FETCH_TIMEOUT": 20,
    "DRAIN_SECONDS": 5,
}


@contextmanager
def running(workdir, workers, aof=True, configure=None, **settings):
    """
    The whole stack, up with C{workers} live workers, stopped after.

    @param configure: if given, C{configure(stack)} returns the environment
        the processes get instead of the throughput settings.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(workdir, appendonly=aof).start()
    stack = Stack(workdir, redis, **{**THROUGHPUT, **settings})
    if configure is not None:
        stack.env = configure(stack)
    try:
        stack.start(workers=workers)
        wait_for(lambda: _live_workers(stack) >= workers, 60, f"{workers} live worker(s)", 0.1)
        yield stack
    except Exception:
        print(stack.logs(), file=sys.stderr)
        raise
    finally:
        try:
            stack.stop()
        finally:
            redis.stop()


def _live_workers(stack):
    return stack.client.json("GET", "/readyz")[1].get("workers", 0)


def pids(stack):
    """
    C{{name: pid}} of every process of the stack, each worker's parser
    processes included (as C{"worker1 parser 1"}, ...: they count as the
    worker's, and a worker's CPU is nothing without them).
    """
    found = {"redis": stack.redis.proc.pid, "api": stack.api.proc.pid}
    for worker in stack.workers:
        found[worker.name] = worker.proc.pid
        for n, child in enumerate(procstat.children(worker.proc.pid), 1):
            found[f"{worker.name} parser {n}"] = child
    return found


def submit_site(stack, base, truth):
    """A job whose depth and page limits cover the whole site."""
    return stack.client.submit([base + "/"], max_depth=truth["max_depth"],
                               max_pages=len(truth["pages"]), scope="host")


def wait_finished(client, job_id, timeout):
    """Poll the job four times a second: often enough for the harness's
    own clock, rarely enough not to load the API it measures."""
    return client.wait_done(job_id, timeout, interval=0.25)


def crawl(stack, base, truth, timeout, watch=None):
    """
    Crawl the site once and measure it.  C{watch(stack)}, if given, is a
    context manager held for exactly the crawl (the profiler).
    """
    procs, port = pids(stack), stack.redis.port
    stack.redis.command("CONFIG", "RESETSTAT")
    before = {"segments": procstat.redis_segments(port), "cpu": procstat.cpu_of(procs),
              "load": os.getloadavg(), "clock": time.monotonic()}
    with watch(stack) if watch else nullcontext():
        job_id = submit_site(stack, base, truth)
        job = wait_finished(stack.client, job_id, timeout)
    after = {"segments": procstat.redis_segments(port), "cpu": procstat.cpu_of(procs),
             "load": os.getloadavg(), "clock": time.monotonic(),
             "calls": procstat.redis_calls(stack.redis),
             "memory": {name: procstat.memory_mb(pid) for name, pid in procs.items()}}
    images = stack.client.lines(f"/jobs/{job_id}/images?format=txt")
    pages = [json.loads(line) for line in stack.client.lines(f"/jobs/{job_id}/pages?format=ndjson")]
    return _summary(stack, job, pages, images, truth, base, before, after)


def _seconds(iso):
    return datetime.fromisoformat(iso).timestamp()


def _summary(stack, job, pages, images, truth, base, before, after):
    crawled = [p for p in pages if p.get("status") == 200]
    n = max(1, len(crawled))
    wall = _seconds(job["finished_at"]) - _seconds(job["created_at"])
    cpu = {name: after["cpu"][name] - before["cpu"][name] for name in before["cpu"]}
    calls = after["calls"]
    return {
        "name": f"ours, {len(stack.workers)} worker{'s' if len(stack.workers) > 1 else ''}",
        "workers": len(stack.workers),
        "job": {"id": job["id"], "status": job["status"], "stats": job["stats"]},
        "pages": len(crawled),
        "wall_s": wall,
        "observed_s": after["clock"] - before["clock"],
        "pages_per_s": len(crawled) / wall,
        "cpu_s": cpu,
        "cpu_total_s": sum(cpu.values()),
        "cpu_per_1000_pages": sum(cpu.values()) / n * 1000,
        "memory_mb": after["memory"],
        "redis": {"commands_per_page": sum(calls.values()) / n,
                  "scripts_per_page": (calls.get("evalsha", 0) + calls.get("eval", 0)) / n,
                  "calls": calls},
        "round_trips": _round_trips(stack, crawled, before, after),
        "page_score": score([p["url"] for p in crawled], truth["pages"], base),
        "image_score": score(images, truth["images"], base),
        "loadavg": {"start": before["load"], "end": after["load"]},
    }


def _round_trips(stack, crawled, before, after):
    """Segments sent to Redis per process, and per page for each worker."""
    trips = procstat.round_trips(before["segments"], after["segments"], pids(stack))
    if trips is None:
        return None
    per_worker = {}
    for worker in stack.workers:
        done = sum(1 for p in crawled if p.get("worker") == worker.name)
        per_worker[worker.name] = trips[worker.name] / done if done else None
    return {"by_process": trips, "per_page_by_worker": per_worker,
            "per_page_all": sum(trips.values()) / max(1, len(crawled))}
