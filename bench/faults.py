"""
C{python -m bench.faults}: what each fault costs a job, with the settings
a user gets.

The synthetic site (1,500 pages by default, L{bench.site}) is crawled by a
fresh stack of 3 workers once with no fault, then once per fault, each
injected when half the pages are done:

  - C{kill-worker}: kill -9 of the worker that recorded the latest page;
  - C{kill-api}: kill -9 of the API, then a new one started;
  - C{restart-redis}: Redis stopped and started on the same data (AOF);
  - C{stop-worker}: SIGSTOP of a worker until the pool counts it gone
    (3 missed heartbeats), then SIGCONT;
  - C{replace-workers}: every worker killed, as many new ones started.

For each it prints the seconds the fault added to the job (its wall time
over the fault-free run's) and whether the result was exact: the same
pages and images as the site's ground truth, each page recorded once and
counted once.  Every setting is the default of C{common/config.py} (or
what your environment sets), except C{ALLOW_PRIVATE_NETWORKS=1}, without
which a worker refuses to crawl a site on loopback.  All traffic stays on
127.0.0.1.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from bench import RESULTS, ours, report, site
from bench.serve import serving
from common.config import SETTINGS
from tests.stack import RedisServer, Stack
from tests.wait import wait_for

WORKERS = 3
# The test stack's own addresses stay; every other setting it sets gets its default.
_PLUMBING = {"REDIS_URL", "API_HOST", "API_PORT", "ZMQ_TASKS_BIND", "ZMQ_LINKS_BIND",
             "ZMQ_TASKS_CONNECT", "ZMQ_LINKS_CONNECT", "ZMQ_KEYS_DIR", "WORKER_ID",
             "WORKER_HEARTBEAT_FILE"}
_SHOWN = ("HEARTBEAT_SECONDS", "LEASE_SECONDS", "REAP_INTERVAL", "FETCH_TIMEOUT", "WORKER_CONCURRENCY",
          "HOST_CONCURRENCY", "MAX_ATTEMPTS", "DRAIN_SECONDS")


def default_settings(stack):
    """The environment a user's stack would have: config defaults for all
    that the test stack speeds up, unless the caller's environment sets them."""
    defaults = {name: default for name, _, default in SETTINGS if name not in _PLUMBING}
    env = {name: value for name, value in stack.env.items() if name not in defaults}
    env.update((name, os.environ.get(name, default)) for name, default in defaults.items())
    env["ALLOW_PRIVATE_NETWORKS"] = "1"
    return env


def running(workdir, workers=WORKERS):
    """A stack with the settings a user gets (L{default_settings})."""
    return ours.running(workdir, workers, configure=default_settings)


def live_workers(stack):
    return stack.client.json("GET", "/readyz")[1].get("workers")


def _latest_worker(stack, job_id):
    """The worker that recorded the latest page: one with work in hand."""
    name = json.loads(stack.client.lines(f"/jobs/{job_id}/pages?format=ndjson")[-1])["worker"]
    return next(w for w in stack.workers if w.name == name)


def kill_worker(stack, job_id):
    _latest_worker(stack, job_id).kill()


def kill_api(stack, job_id):
    stack.api.kill()
    stack.start_api()


def restart_redis(stack, job_id):
    stack.redis.restart()


def stop_worker(stack, job_id):
    worker = _latest_worker(stack, job_id)
    worker.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: live_workers(stack) == len(stack.workers) - 1, 120,
                 "the stopped worker to miss 3 heartbeats", 0.2)
    finally:
        worker.signal(signal.SIGCONT)


def replace_workers(stack, job_id):
    old = list(stack.workers)
    for worker in old:
        worker.kill()
    for _ in old:
        stack.start_worker()


FAULTS = {
    "kill-worker": ("kill -9 of a worker", kill_worker),
    "kill-api": ("kill -9 of the API, started again", kill_api),
    "restart-redis": ("Redis restarted", restart_redis),
    "stop-worker": ("SIGSTOP of a worker past 3 heartbeats, SIGCONT", stop_worker),
    "replace-workers": ("all workers killed, new ones started", replace_workers),
}


def _seconds(iso):
    return datetime.fromisoformat(iso).timestamp()


def crawl(stack, base, truth, fault, timeout):
    """One whole-site job; C{fault(stack, job_id)} at half way.  Its outcome."""
    job_id = ours.submit_site(stack, base, truth)
    half = len(truth["pages"]) // 2
    fault_at = None
    if fault is not None:
        wait_for(lambda: stack.client.job(job_id)["stats"]["pages_crawled"] >= half, timeout,
                 "the job to be half way", 0.1)
        if stack.client.job(job_id)["status"] != "running":
            raise RuntimeError("the job completed before the fault: use a bigger site (--pages)")
        fault_at = time.monotonic()
        fault(stack, job_id)
    job = ours.wait_finished(stack.client, job_id, timeout)
    done_at = time.monotonic()
    lines = [json.loads(line) for line in stack.client.lines(f"/jobs/{job_id}/pages?format=ndjson")]
    images = stack.client.lines(f"/jobs/{job_id}/images?format=txt")
    return {"wall_s": _seconds(job["finished_at"]) - _seconds(job["created_at"]),
            "after_fault_s": None if fault_at is None else done_at - fault_at,
            "stats": job["stats"], "status": job["status"],
            "problems": _problems(job, lines, images, base, truth)}


def _problems(job, lines, images, base, truth):
    """How the result differs from the ground truth; empty when exact."""
    problems = []
    want_pages = {base + p for p in truth["pages"]}
    want_images = {base + p for p in truth["images"]}
    urls = [p["url"] for p in lines]
    if job["status"] != "completed":
        problems.append(f"job {job['status']}")
    if len(urls) != len(set(urls)):
        problems.append(f"{len(urls) - len(set(urls))} page(s) recorded twice")
    if set(urls) != want_pages:
        problems.append(f"pages: {len(want_pages - set(urls))} missing, {len(set(urls) - want_pages)} extra")
    failed = sum(1 for p in lines if p.get("status") != 200)
    if failed:
        problems.append(f"{failed} page(s) not 200")
    if set(images) != want_images:
        problems.append(f"images: {len(want_images - set(images))} missing, "
                        f"{len(set(images) - want_images)} extra")
    stats = job["stats"]
    if stats["pages_crawled"] != len(want_pages) or stats["images_found"] != len(want_images):
        problems.append(f"counters: pages_crawled {stats['pages_crawled']} (want {len(want_pages)}), "
                        f"images_found {stats['images_found']} (want {len(want_images)})")
    return problems


def table(baseline, runs):
    rows = [("fault", "added s", "after fault s", "exact", "retried", "notes"),
            ("none", "-", "-", "yes" if not baseline["problems"] else "NO",
             str(baseline["stats"]["pages_retried"]), f"{baseline['wall_s']:.1f} s wall")]
    for key, run in runs.items():
        rows.append((key, f"{run['wall_s'] - baseline['wall_s']:+.1f}", f"{run['after_fault_s']:.1f}",
                     "yes" if not run["problems"] else "NO", str(run["stats"]["pages_retried"]),
                     "; ".join(run["problems"]) or FAULTS[key][0]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=1500, help="site size (default 1,500 pages)")
    p.add_argument("--faults", default=",".join(FAULTS),
                   help=f"comma-separated, from {', '.join(FAULTS)} (default: all)")
    p.add_argument("--server", choices=("auto", "nginx", "twisted"), default="auto",
                   help="site server (auto: nginx when installed)")
    p.add_argument("--timeout", type=float, default=600, help="seconds one crawl may take")
    p.add_argument("--output", type=Path, help="JSON results (default bench/results/faults-latest.json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and its logs")
    args = p.parse_args(argv)
    args.faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in args.faults if f not in FAULTS]
    if unknown:
        p.error(f"unknown fault(s): {', '.join(unknown)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is not installed (`make redis` installs it)")
    started = time.monotonic()
    shape = site.Shape(pages=args.pages)
    root, truth = site.generate(shape)
    with serving(root, args.server, args.keep, "imagecrawler-faults-") as (work, server):
        env = default_settings(Stack(work, RedisServer(work)))
        settings = {name: env[name] for name in _SHOWN if name in env}
        print(f"site: {shape.pages} pages, {len(truth['images'])} images, served by {server.describe()}\n"
              f"{WORKERS} workers; settings: "
              + ", ".join(f"{k}={v}" for k, v in settings.items()) + " (defaults unless set in "
              "your environment), ALLOW_PRIVATE_NETWORKS=1; load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        baseline = _run(args, truth, server, work / "none", None, "no fault")
        runs = {key: _run(args, truth, server, work / key, FAULTS[key][1], FAULTS[key][0])
                for key in args.faults}
    print("\n" + table(baseline, runs))
    output = args.output or RESULTS / "faults-latest.json"
    report.write_json({"site": {"pages": shape.pages, "images": len(truth["images"]), "server": server.kind},
                       "workers": WORKERS, "settings": settings, "baseline": baseline, "faults": runs},
                      output)
    print(f"\nresults: {output}; total time {time.monotonic() - started:.0f} s")
    return 0 if not baseline["problems"] and not any(r["problems"] for r in runs.values()) else 1


def _run(args, truth, server, workdir, fault, name):
    with running(workdir) as stack:
        run = crawl(stack, server.base, truth, fault, args.timeout)
    after = "" if run["after_fault_s"] is None else f", done {run['after_fault_s']:.1f} s after the fault"
    print(f"{name}: {run['wall_s']:.1f} s wall{after}, "
          f"{'exact' if not run['problems'] else 'NOT exact: ' + '; '.join(run['problems'])}", flush=True)
    return run


if __name__ == "__main__":
    sys.exit(main())
