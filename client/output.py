"""
What the client writes: export paths, job summaries, and progress while
it waits (a tqdm bar on a terminal, plain lines in a pipe or a log).

Results go to stdout and everything about progress to stderr, so that
C{python -m client crawl URL --wait > images.txt} leaves only images in
the file.
"""

import json
import time
from urllib.parse import quote

FORMATS = ("txt", "ndjson", "csv")
FINISHED = ("completed", "cancelled", "failed")
# A plain progress line at most this often, unless the job finished.
LINE_EVERY = 2.0


def export_path(job_id, kind, fmt):
    """The API path that streams every C{kind} (images, pages) of a job as C{fmt}."""
    return f"/jobs/{quote(job_id, safe='')}/{kind}?format={fmt}"


def job_path(job_id):
    return f"/jobs/{quote(job_id, safe='')}"


def counts(job):
    """(pages settled, pages admitted, images found) from a job's stats."""
    stats = job.get("stats", {})
    done = sum(int(stats.get(k, 0)) for k in ("pages_crawled", "pages_failed", "pages_skipped"))
    return done, int(stats.get("pages_admitted", 0)), int(stats.get("images_found", 0))


def progress_line(job):
    """C{job ID running: 12 of 30 pages, 2 failed, 45 images}."""
    done, admitted, images = counts(job)
    failed = int(job.get("stats", {}).get("pages_failed", 0))
    line = f"job {job['id']} {job['status']}: {done} of {admitted} pages"
    if failed:
        line += f", {failed} failed"
    return f"{line}, {images} images"


def job_row(job):
    """One line of C{list}: id, status, pages, images, created, first start URL."""
    done, admitted, images = counts(job)
    urls = job.get("urls") or [""]
    more = f" (+{len(urls) - 1})" if len(urls) > 1 else ""
    return "\t".join([job["id"], job["status"], f"{done}/{admitted}", str(images),
                      job.get("created_at") or "-", urls[0] + more])


def pretty(value):
    return json.dumps(value, indent=2, ensure_ascii=False)


class LineProgress:
    """Progress as plain lines: when something changed, at most every
    L{LINE_EVERY} seconds, and always the first and the last."""

    def __init__(self, stream, clock=time.monotonic, every=LINE_EVERY):
        self._stream = stream
        self._clock = clock
        self._every = every
        self._last_line = None
        self._last_time = None

    def update(self, job):
        line = progress_line(job)
        now = self._clock()
        due = self._last_time is None or now - self._last_time >= self._every
        if line != self._last_line and (due or job["status"] in FINISHED):
            self._stream.write(line + "\n")
            self._stream.flush()
            self._last_line, self._last_time = line, now

    def close(self):
        pass


class BarProgress:
    """A tqdm bar of pages settled out of pages admitted (which grows as
    links are found), with the images found beside it."""

    def __init__(self, stream, tqdm):
        self._bar = tqdm(total=0, unit="page", file=stream, dynamic_ncols=True, leave=True)

    def update(self, job):
        done, admitted, images = counts(job)
        self._bar.total = admitted
        self._bar.n = done
        self._bar.set_description(f"{job['id'][:12]} {job['status']}", refresh=False)
        self._bar.set_postfix(images=images, refresh=False)
        self._bar.refresh()

    def close(self):
        self._bar.close()


def progress_for(stream):
    """A bar when C{stream} is a terminal (and tqdm is installed), else lines."""
    if stream.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            return LineProgress(stream)
        return BarProgress(stream, tqdm)
    return LineProgress(stream)
