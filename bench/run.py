"""
C{python -m bench.run}: the benchmark, start to finish, in one process.

  1. generate (or reuse) the synthetic site and serve it on 127.0.0.1;
  2. crawl it with our stack, 1 worker (profiled with C{--profile});
  3. crawl it with our stack, 2 workers, then load the API while a
     crawl runs in that same stack;
  4. crawl it with the reference Scrapy spider (with C{--repeat N},
     steps 2 to 4 run N times, interleaved; the fastest of each counts);
  5. print the table, the load results, PASS/MISS per target and the
     profile, and write everything to C{bench/results/latest.json}.

C{--quick} is the same on 300 pages with a short load test; C{--big} is
the memory run of L{bench.big}.  Every process is started here and
stopped here; all traffic stays on loopback.
"""

import argparse
import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import RESULTS, ROOT, big, load, ours, profile, reference, report, site
from bench.serve import serving

MODES = {
    "full": {"shape": site.Shape(), "load_seconds": 10},
    "quick": {"shape": site.Shape(pages=300), "load_seconds": 4},
    "big": {"shape": site.Shape(pages=50_000, links=10, images=8, depth=5, page_bytes=2_000),
            "load_seconds": 0},
}
_SHAPE_FIELDS = ("pages", "links", "images", "depth", "page_bytes", "seed")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="300 pages and a short load test (< 2 min)")
    p.add_argument("--big", action="store_true", help="50,000 small pages: memory over time")
    p.add_argument("--profile", action="store_true", help="py-spy on the worker of the 1-worker run")
    for name in _SHAPE_FIELDS:
        p.add_argument(f"--{name.replace('_', '-')}", type=int, help="override the site shape")
    p.add_argument("--server", choices=("auto", "nginx", "twisted"), default="auto",
                   help="site server (auto: nginx when installed)")
    p.add_argument("--repeat", type=int, default=1,
                   help="crawl each configuration N times, keep the fastest (for noisy machines)")
    p.add_argument("--load-seconds", type=int, help="length of the GET phase of the API load test")
    p.add_argument("--load-connections", type=int, default=16)
    p.add_argument("--no-aof", action="store_true", help="run Redis without its append-only file")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one crawl may take")
    p.add_argument("--output", type=Path, help="JSON results (default bench/results/latest.json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and its logs")
    return p.parse_args(argv)


def _mode(args):
    return "big" if args.big else "quick" if args.quick else "full"


def _shape(args):
    given = {f: getattr(args, f) for f in _SHAPE_FIELDS if getattr(args, f) is not None}
    return dataclasses.replace(MODES[_mode(args)]["shape"], **given).check()


def _check_tools(args):
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is not installed (`make redis` installs it)")
    if not args.big and not reference.available():
        raise SystemExit(f"Scrapy is missing from {reference.BENCH_VENV}: run `make bench` "
                         "or pip install -r bench/requirements.txt into it")
    if args.profile and not profile.available():
        raise SystemExit(f"py-spy is missing from {reference.BENCH_VENV}")


def _machine():
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "loadavg_at_start": os.getloadavg(), "python": platform.python_version(),
            "redis": redis, "platform": platform.platform()}


def _source():
    """The code measured: the commit, and whether the tree differed from it."""
    def git(*argv):
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": changed}


def main(argv=None):
    args = parse_args(argv)
    _check_tools(args)
    started = time.monotonic()
    shape = _shape(args)
    root, truth = site.generate(shape)
    print(f"site: {shape.pages} pages, {len(truth['images'])} images, branching {shape.branching}, "
          f"max depth {truth['max_depth']}, ~{shape.page_bytes} B/page, in {root} "
          f"(ready in {time.monotonic() - started:.1f} s)", flush=True)
    with serving(root, args.server, args.keep, "imagecrawler-bench-") as (work, server):
        results = {"mode": _mode(args), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "machine": _machine(), "source": _source(),
                   "site": {"shape": dataclasses.asdict(shape), "server": server.kind,
                            "images": len(truth["images"]), "max_depth": truth["max_depth"]}}
        if args.big:
            big.run(args, truth, server, work, results, stack_settings(truth))
        else:
            compare(args, truth, server, work, results)
    print(f"total time {time.monotonic() - started:.0f} s")


def compare(args, truth, server, work, results):
    """Steps 2 to 5 of the module docstring."""
    settings = stack_settings(truth)
    results["settings"] = {**ours.THROUGHPUT, **settings}
    results["runs"] = _rounds(args, truth, server, work, settings, results)
    results["targets"] = report.targets(results)
    print("\n" + report.table(results))
    if results.get("load"):
        print("\n" + report.load_table(results["load"]))
    print("\n" + report.target_lines(results["targets"]))
    if results.get("profile"):
        print("\n" + report.profile_lines(results["profile"]))
    output = args.output or RESULTS / "latest.json"
    report.write_json(results, output)
    print(f"\nresults: {output}")


def _rounds(args, truth, server, work, settings, results):
    """
    C{args.repeat} rounds of the three crawls, interleaved so that a burst
    of outside load hits all three alike; the fastest of each is kept.
    The profile is taken in the first round, the load test in the last.
    """
    load_seconds = args.load_seconds or MODES[_mode(args)]["load_seconds"]
    tried = {"ours_1": [], "ours_2": [], "scrapy": []}
    for i in range(args.repeat):
        last = i == args.repeat - 1
        _note(tried["ours_1"], _ours(args, truth, server, work / f"ours1-{i}", 1, settings, results,
                                     profiled=args.profile and i == 0))
        _note(tried["ours_2"], _ours(args, truth, server, work / f"ours2-{i}", 2, settings, results,
                                     load_seconds=load_seconds if last else 0))
        _note(tried["scrapy"], reference.crawl(server.base, truth, work / f"scrapy-{i}", args.timeout))
    return {key: _best(runs) for key, runs in tried.items()}


def stack_settings(truth):
    """Limits that let one job cover the whole site."""
    return {"MAX_DEPTH_LIMIT": max(10, truth["max_depth"]),
            "MAX_PAGES_LIMIT": max(100_000, len(truth["pages"]))}


def _note(runs, run):
    print(f"{run['name']}: {run['pages']} pages in {run['wall_s']:.2f} s = {run['pages_per_s']:.0f} pages/s, "
          f"{run['cpu_per_1000_pages']:.2f} CPU s/1000 pages, load {run['loadavg']['start'][0]:.2f}", flush=True)
    runs.append(run)


def _best(runs):
    """The fastest run, with a note of every try."""
    best = max(runs, key=lambda r: r["pages_per_s"])
    best["repeats"] = [{"pages_per_s": r["pages_per_s"], "cpu_per_1000_pages": r["cpu_per_1000_pages"],
                        "loadavg_start": r["loadavg"]["start"][0]} for r in runs]
    return best


def _ours(args, truth, server, workdir, workers, settings, results, profiled=False, load_seconds=0):
    """One fresh stack: one measured crawl, then the load test if asked."""
    with ours.running(workdir, workers, aof=not args.no_aof, **settings) as stack:
        if profiled:
            run, results["profile"] = _profiled_crawl(args, truth, server, workdir, stack)
        else:
            run = ours.crawl(stack, server.base, truth, args.timeout)
        if load_seconds:
            # Enough whole-site crawls to keep the workers busy through the GET phase.
            crawls = 1 + int(load_seconds * run["pages_per_s"] / len(truth["pages"]))
            print(f"API load test: {load.tool()}, {args.load_connections} connections: GET idle, "
                  f"GET during {crawls} crawl(s) for {load_seconds} s, POST", flush=True)
            results["load"] = load.api_load(stack, server.base, truth, load_seconds, args.load_connections,
                                            workdir, ours.submit_site, run["job"]["id"], crawls)
    return run


def _profiled_crawl(args, truth, server, workdir, stack):
    raw = RESULTS / "worker-profile.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)

    def watch(stack):
        return profile.recording(stack.workers[0].proc.pid, raw, workdir / "py-spy.log")

    run = ours.crawl(stack, server.base, truth, args.timeout, watch)
    run["profiled"] = True
    samples, top = profile.top(raw)
    return run, {"raw": str(raw), "rate": profile.RATE, "samples": samples, "top": top,
                 "packages": profile.by_package(raw), "our_code": profile.by_our_code(raw)}


if __name__ == "__main__":
    sys.exit(main())
