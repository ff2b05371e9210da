"""
C{--big}: one job over a 50,000-page site with 2 workers, to show that
memory stays flat while the frontier grows and drains.

Every second a sampler records the RSS of the API, each worker and Redis,
Redis's C{used_memory} and the job's counters.  A process whose RSS grew
with the frontier would hold per-URL state in memory; the design keeps
that state in Redis, so what Redis spends per admitted URL is reported
too.  Pages are small (2 KB, 8 images) so the run takes minutes, not an
hour; it is not part of CI.
"""

import json
import threading
import time

from bench import RESULTS, ours, procstat, report
from bench.score import score

FLAT_MB, FLAT_SHARE = 10.0, 0.15


class Sampler(threading.Thread):
    """Samples the stack every C{interval} seconds until stopped."""

    def __init__(self, stack, job_id, interval=1.0):
        super().__init__(daemon=True)
        self.stack, self.job_id, self.interval = stack, job_id, interval
        self.pids = ours.pids(stack)
        self.samples = []
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def run(self):
        while not self._halt.wait(self.interval):
            try:
                self.samples.append(self._sample())
            except Exception as e:  # a process may be on its way out at the end
                print(f"sampler: {e}")

    def _sample(self):
        stats = self.stack.client.job(self.job_id)["stats"]
        memory = procstat.redis_info(self.stack.redis, "memory")
        return {"t": round(time.monotonic() - self._t0, 2),
                "rss_mb": {name: procstat.memory_mb(pid)["rss"] for name, pid in self.pids.items()},
                "redis_used_memory": int(memory["used_memory"]),
                "admitted": stats["pages_admitted"], "crawled": stats["pages_crawled"],
                "pending": stats["pages_pending"]}

    def stop(self):
        self._halt.set()
        self.join(10)


def run(args, truth, server, work, results, settings):
    with ours.running(work / "big", 2, aof=not args.no_aof, **settings) as stack:
        base_memory = int(procstat.redis_info(stack.redis, "memory")["used_memory"])
        started = time.monotonic()
        job_id = ours.submit_site(stack, server.base, truth)
        sampler = Sampler(stack, job_id)
        sampler.start()
        try:
            job = ours.wait_finished(stack.client, job_id, args.timeout)
        finally:
            sampler.stop()
        elapsed = time.monotonic() - started
        end_memory = int(procstat.redis_info(stack.redis, "memory")["used_memory"])
        images = stack.client.lines(f"/jobs/{job_id}/images?format=txt")
        pages = [json.loads(line)["url"] for line in stack.client.lines(f"/jobs/{job_id}/pages?format=ndjson")]
    results["big"] = summarize(sampler.samples, job, base_memory, end_memory, elapsed)
    results["big"]["page_score"] = score(pages, truth["pages"], server.base)
    results["big"]["image_score"] = score(images, truth["images"], server.base)
    results["big"]["samples"] = sampler.samples
    print(lines(results["big"]))
    output = args.output or RESULTS / "big-latest.json"
    report.write_json(results, output)
    print(f"\nresults: {output}")


def _at_progress(samples, share, total):
    return next((s for s in samples if s["crawled"] >= share * total), samples[-1])


def summarize(samples, job, base_memory, end_memory, elapsed):
    admitted = job["stats"]["pages_admitted"]
    warm = _at_progress(samples, 0.1, admitted)
    rss = {}
    for name in samples[-1]["rss_mb"]:
        series = [s["rss_mb"][name] for s in samples if name in s["rss_mb"]]
        start, end = warm["rss_mb"][name], series[-1]
        rss[name] = {"at_10pct": start, "at_50pct": _at_progress(samples, 0.5, admitted)["rss_mb"][name],
                     "end": end, "max": max(series),
                     "flat": max(series) - start <= max(FLAT_MB, FLAT_SHARE * start)}
    peak = max(samples, key=lambda s: s["redis_used_memory"])
    return {
        "pages": job["stats"]["pages_crawled"], "wall_s": elapsed,
        "pages_per_s": job["stats"]["pages_crawled"] / elapsed,
        "samples_taken": len(samples), "frontier_peak": max(s["pending"] for s in samples),
        "rss_mb": rss,
        "redis": {"base_bytes": base_memory, "peak_bytes": peak["redis_used_memory"], "end_bytes": end_memory,
                  "per_admitted_url_at_peak": (peak["redis_used_memory"] - base_memory) / max(1, peak["admitted"]),
                  "per_admitted_url_at_end": (end_memory - base_memory) / max(1, admitted)},
    }


def lines(big):
    out = [f"big run: {big['pages']} pages in {big['wall_s']:.0f} s = {big['pages_per_s']:.0f} pages/s, "
           f"frontier peak {big['frontier_peak']} pages, {big['samples_taken']} samples",
           "RSS MB over the run (sampled every second; flat: max - at 10% <= "
           f"max({FLAT_MB:.0f} MB, {FLAT_SHARE:.0%})):"]
    for name, r in big["rss_mb"].items():
        # Redis holds the frontier and the results: it is meant to grow.
        verdict = "    " if name == "redis" else "PASS" if r["flat"] else "MISS"
        out.append(f"  {verdict}  {name:8} at 10% {r['at_10pct']:7.1f}  at 50% "
                   f"{r['at_50pct']:7.1f}  end {r['end']:7.1f}  max {r['max']:7.1f}")
    redis = big["redis"]
    out.append(f"Redis used_memory: base {redis['base_bytes'] / 2**20:.1f} MB, peak {redis['peak_bytes'] / 2**20:.1f} MB, "
               f"end {redis['end_bytes'] / 2**20:.1f} MB; per admitted URL: {redis['per_admitted_url_at_peak']:.0f} B "
               f"at peak (frontier + results), {redis['per_admitted_url_at_end']:.0f} B at the end (results only)")
    for kind in ("page", "image"):
        s = big[f"{kind}_score"]
        out.append(f"{kind} recall {s['recall']:.2%}, precision {s['precision']:.2%} ({s['found']} of {s['expected']})")
    return "\n".join(out)
