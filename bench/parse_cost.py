"""
C{python -m bench.parse_cost}: what parsing costs a worker's reactor, four ways.

The same pages, C{--pages} pages of the benchmark site (~14 KB each, from
L{bench.site}) with C{--big} archive pages of ~4.7 MiB spread among them,
are parsed:

  - C{inline}: on the reactor thread, one page per reactor turn, as the
    worker did before L{worker.parsing};
  - C{threads}: with C{deferToThread} (Twisted's pool, up to 10 threads);
  - C{pool-1}, C{pool-2}: in a L{ParserPool} of 1 and 2 processes;

at most C{--concurrency} (16, as C{WORKER_CONCURRENCY}) at a time.  Per
page: the parent's CPU (C{getrusage(RUSAGE_SELF)}, all its threads), the
children's CPU (C{/proc/PID/stat}), wall time, pages/s, and the largest
lag of a 10 ms L{LoopingCall} over the run: how long the reactor could not
run a heartbeat.  Ratios are against C{inline} in the same run, since the
machine is shared.  Every mode warms up on two big pages first (for the
pools: so that every child is ready before the clock starts) and starts
with a full garbage collection; each result is reduced at once to a small
L{fingerprint}, which must equal C{inline}'s (the integration tests check
whole results), so that no mode pays for keeping another's results alive.
"""

import argparse
import gc
import os
import resource
import time
from dataclasses import dataclass

from twisted.internet.defer import DeferredSemaphore, ensureDeferred, gatherResults
from twisted.internet.task import LoopingCall, deferLater, react
from twisted.internet.threads import deferToThread

from bench import procstat
from bench.site import Shape, render
from worker.decoding import decode_html
from worker.extract import extract
from worker.parsing import ParserPool, summarize

SITE = "http://127.0.0.1:8080"
CONTENT_TYPE = "text/html; charset=utf-8"
CAP = 10_000                   # MAX_URLS_PER_PAGE's default
BIG_BYTES = 4_900_000          # ~4.7 MiB, under MAX_BODY_BYTES (5 MiB)
LAG_INTERVAL = 0.01
_DENSE = Shape(pages=10 ** 6, depth=8, page_bytes=0)


@dataclass(frozen=True)
class Page:
    """A page as the fetcher hands it over."""

    url: str
    body: bytes


def site_pages(count):
    """Pages 1..count of the benchmark site, as served."""
    return [Page(f"{SITE}/p/{n}.html", render(n, Shape()).encode()) for n in range(1, count + 1)]


def archive_page(n, size=BIG_BYTES):
    """
    A long archive page: the markup of consecutive site pages, without their
    prose, in one body of about C{size} bytes (~44,000 images and 15,000
    links in 4.7 MiB): what a big real page costs to parse, which is its
    elements, not its bytes.
    """
    parts, total, first = [], 0, n * 10_000
    while total < size:
        page = render(first + len(parts), _DENSE)
        body = page.split('<body id="top">', 1)[1].rsplit("</body>", 1)[0]
        parts.append(body)
        total += len(body)
    html = f"<!doctype html><html><head><title>Archive {n}</title></head><body>{''.join(parts)}"
    return Page(f"{SITE}/archive/{n}.html", (html + "</body></html>").encode())


def workload(pages, big):
    """The small pages with the big ones spread evenly among them."""
    mixed = site_pages(pages)
    for i in range(big):
        mixed.insert((i + 1) * len(mixed) // (big + 1), archive_page(i))
    return mixed


def parse_inline(page):
    return summarize(extract(decode_html(page.body, CONTENT_TYPE), page.url), CAP)


def fingerprint(parsed):
    """Enough of a result to tell a wrong one, for next to no CPU."""
    ends = [parsed.images[:1], parsed.images[-1:], parsed.links[:1], parsed.links[-1:]]
    return parsed.image_count, parsed.link_count, parsed.capped, len(parsed.images), ends


class LagMeter:
    """The longest time the reactor let a 10 ms timer wait past its due time."""

    def __init__(self, reactor, interval=LAG_INTERVAL):
        self._interval = interval
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor
        self._last = None
        self.worst = 0.0

    def start(self):
        self._last = time.monotonic()
        self._loop.start(self._interval, now=False)

    def stop(self):
        self._tick()
        self._loop.stop()

    def _tick(self):
        now = time.monotonic()
        self.worst = max(self.worst, now - self._last - self._interval)
        self._last = now


@dataclass(frozen=True)
class Row:
    """One mode's totals over the run; the table shows them per page."""

    mode: str
    pages: int
    parent_cpu: float
    child_cpu: float | None
    wall: float
    lag: float

    def per_page_ms(self, seconds):
        return None if seconds is None else 1000 * seconds / self.pages


def _cpu_self():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(reactor, mode, parse, pages, concurrency, children=()):
    """Run C{parse} over C{pages}; the L{Row} and the fingerprints in page order."""
    limit, meter = DeferredSemaphore(concurrency), LagMeter(reactor)
    gc.collect()
    child_before = sum(procstat.cpu_seconds(pid) for pid in children)
    cpu, start = _cpu_self(), time.monotonic()
    meter.start()
    results = await gatherResults([limit.run(parse, page).addCallback(fingerprint)
                                   for page in pages])
    meter.stop()
    wall, cpu = time.monotonic() - start, _cpu_self() - cpu
    child = sum(procstat.cpu_seconds(pid) for pid in children) - child_before if children else None
    return Row(mode, len(pages), cpu, child, wall, meter.worst), results


class Recorder:
    """C{reactor.spawnProcess} that remembers the pids, for their CPU time."""

    def __init__(self, reactor):
        self._reactor, self.pids = reactor, []

    def __call__(self, *args, **kwargs):
        process = self._reactor.spawnProcess(*args, **kwargs)
        self.pids.append(process.pid)
        return process


async def run_pool(reactor, processes, pages, warm_up, concurrency):
    spawn = Recorder(reactor)
    pool = ParserPool(reactor, processes, timeout=600, max_urls=CAP, spawn=spawn)
    pool.startService()

    def parse(page):
        return pool.parse(page.body, CONTENT_TYPE, page.url)
    try:
        await gatherResults([parse(page) for page in warm_up])
        return await measure(reactor, f"pool-{processes}", parse, pages, concurrency, spawn.pids)
    finally:
        await pool.stopService()


async def run_all(reactor, args):
    pages, warm_up = workload(args.pages, args.big), [archive_page(100 + i) for i in range(2)]
    print(f"{len(pages)} pages: {args.pages} of ~{len(pages[0].body) // 1000} KB, {args.big} of "
          f"{BIG_BYTES / 2 ** 20:.1f} MiB; concurrency {args.concurrency}; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)

    def inline(page):
        return deferLater(reactor, 0, parse_inline, page)

    def threaded(page):
        return deferToThread(parse_inline, page)
    rows, expected = [], None
    for mode, parse in (("inline", inline), ("threads", threaded)):
        await gatherResults([parse(page) for page in warm_up])
        row, results = await measure(reactor, mode, parse, pages, args.concurrency)
        expected = results if expected is None else expected
        rows.append(_checked(row, results, expected))
    for processes in (1, 2):
        row, results = await run_pool(reactor, processes, pages, warm_up, args.concurrency)
        rows.append(_checked(row, results, expected))
    print(table(rows))


def _checked(row, results, expected):
    if results != expected:
        raise SystemExit(f"{row.mode}: results differ from inline parsing")
    print(f"  {row.mode}: {row.wall:.1f} s", flush=True)
    return row


def _cell(value, base, fmt):
    if value is None:
        return "-"
    ratio = f"({value / base:.2g}x)" if base else ""
    return f"{fmt.format(value)} {ratio}"


def table(rows):
    """One line per mode: each number, then its ratio to inline's."""
    base = rows[0]
    columns = (
        ("parent CPU ms/page", lambda r: r.per_page_ms(r.parent_cpu), "{:.2f}"),
        ("child CPU ms/page", lambda r: r.per_page_ms(r.child_cpu), "{:.2f}"),
        ("wall ms/page", lambda r: r.per_page_ms(r.wall), "{:.2f}"),
        ("pages/s", lambda r: r.pages / r.wall, "{:.0f}"),
        ("max reactor lag ms", lambda r: 1000 * r.lag, "{:.0f}"),
    )
    lines = [[name for name, _, _ in columns]]
    for row in rows:
        lines.append([_cell(get(row), get(base), fmt) for _, get, fmt in columns])
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    modes = ["mode"] + [row.mode for row in rows]
    return "\n".join(f"{mode:<8} " + "  ".join(cell.rjust(w) for cell, w in zip(line, widths))
                     for mode, line in zip(modes, lines))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.parse_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=300, help="site pages of ~14 KB (300)")
    p.add_argument("--big", type=int, default=3, help="archive pages of ~4.7 MiB (3)")
    p.add_argument("--concurrency", type=int, default=16, help="pages in flight at once (16)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    react(lambda reactor: ensureDeferred(run_all(reactor, args)))


if __name__ == "__main__":
    main()
