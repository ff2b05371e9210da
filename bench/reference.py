"""
Run the reference Scrapy spider (bench/scrapy_spider.py) on the site, in
its own process from the bench venv, and measure it like our stack: crawl
window wall time and CPU (from its Stopwatch extension), peak RSS and
whole-process CPU (from the kernel's rusage when it exits), and recall and
precision from its feed export.
"""

import json
import os
import subprocess

from bench import ROOT
from bench.score import score
from tests.wait import Timeout, wait_for

BENCH_VENV = ROOT / "bench" / ".venv"
SCRAPY = BENCH_VENV / "bin" / "scrapy"
SPIDER = ROOT / "bench" / "scrapy_spider.py"


def available():
    return SCRAPY.exists()


def _argv(base, feed, watch_file):
    return [str(SCRAPY), "runspider", str(SPIDER), "-a", f"start={base}/",
            "-O", f"{feed}:jsonlines",
            "-s", "LOG_LEVEL=INFO",
            "-s", 'EXTENSIONS={"bench.scrapy_spider.Stopwatch": 0}',
            "-s", f"STOPWATCH_FILE={watch_file}"]


def _wait(proc, timeout):
    """Reap the child ourselves to get its rusage; kill it past C{timeout}."""
    def reaped():
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        return None

    try:
        return wait_for(reaped, timeout, "Scrapy to finish", interval=0.1)
    except Timeout:
        proc.kill()
        raise


def crawl(base, truth, workdir, timeout):
    workdir.mkdir(parents=True, exist_ok=True)
    feed, watch_file, log = workdir / "items.jsonl", workdir / "stopwatch.json", workdir / "scrapy.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load_start = os.getloadavg()
    with open(log, "wb") as out:
        proc = subprocess.Popen(_argv(base, feed, watch_file), cwd=workdir, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    usage = _wait(proc, timeout)
    if proc.returncode != 0 or not watch_file.exists():
        raise RuntimeError(f"Scrapy failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    marks = json.loads(watch_file.read_text())
    items = [json.loads(line) for line in feed.read_text().splitlines() if line]
    return _summary(items, marks, usage, truth, base, load_start)


def _summary(items, marks, usage, truth, base, load_start):
    # Scrapy fetches its start URL twice (start requests bypass the dedup
    # filter, then a link back to it passes it); pages are distinct URLs.
    pages = len({i["url"] for i in items})
    wall = marks.get("last_page", marks["closed"]) - marks["opened"]
    cpu = marks["cpu_close"] - marks["cpu_open"]
    return {
        "name": "Scrapy (reference)",
        "pages": pages,
        "fetches": len(items),
        "wall_s": wall,
        "observed_s": marks["closed"] - marks["opened"],
        "pages_per_s": pages / wall,
        "cpu_s": {"scrapy": cpu},
        "cpu_total_s": cpu,
        "cpu_process_s": usage.ru_utime + usage.ru_stime,
        "cpu_per_1000_pages": cpu / max(1, pages) * 1000,
        "memory_mb": {"scrapy": {"peak": usage.ru_maxrss / 1024}},
        "page_score": score([i["url"] for i in items], truth["pages"], base),
        "image_score": score({u for i in items for u in i["images"]}, truth["images"], base),
        "loadavg": {"start": load_start, "end": os.getloadavg()},
    }
