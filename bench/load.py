"""
The API under load while a crawl runs: C{GET /jobs/ID} and C{POST /jobs}
from a load generator on loopback, reporting requests/s and p50/p99.

wrk when installed: it is C, so on a small machine it takes the least CPU
away from the API it measures.  Otherwise a small asyncio client with
keep-alive connections (stdlib only), which the output names, since a
Python client competes for the same cores and reads lower numbers.
Both are bounded in time and in requests.
"""

import asyncio
import json
import re
import shutil
import subprocess
import time
from urllib.parse import urlsplit

MAX_REQUESTS = 2_000_000
_WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def tool():
    return "wrk" if shutil.which("wrk") else "python-asyncio"


def hammer(url, seconds, connections, workdir, body=None):
    """C{{tool, requests, errors, rps, p50_ms, p99_ms}} for one endpoint."""
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, workdir, body)
    return asyncio.run(_python(url, seconds, connections, body))


def _wrk(url, seconds, connections, workdir, body):
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if body is not None:
        script = workdir / "post.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f"wrk.body = {json.dumps(json.dumps(body))}\n")
        argv += ["-s", str(script)]
    out = subprocess.run(argv + [url], capture_output=True, text=True,
                         timeout=seconds + 30, check=True).stdout
    latency = {p: float(v) * _UNIT_MS[u] for p, v, u in _WRK_LATENCY.findall(out)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return {"tool": "wrk", "requests": requests, "errors": errors,
            "rps": float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)),
            "p50_ms": latency.get("50"), "p99_ms": latency.get("99")}


def _request_bytes(url, body):
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if body is None:
        return f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    data = json.dumps(body).encode()
    return (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def _python(url, seconds, connections, body):
    parts, request = urlsplit(url), _request_bytes(url, body)
    latencies, errors = [], []
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(_connection(parts.hostname, parts.port, request, deadline, latencies, errors)
                           for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {"tool": "python-asyncio", "requests": len(latencies), "errors": len(errors),
            "rps": len(latencies) / elapsed,
            "p50_ms": _percentile_ms(latencies, 0.50), "p99_ms": _percentile_ms(latencies, 0.99)}


def _percentile_ms(ordered, q):
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _connection(host, port, request, deadline, latencies, errors):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline and len(latencies) < MAX_REQUESTS:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 2"):
                errors.append(head.split(b"\r\n", 1)[0])
    finally:
        writer.close()


def api_load(stack, base, truth, seconds, connections, workdir, submit, idle_job, crawls=1):
    """
    C{GET /jobs/ID} on C{idle_job} with the stack idle (the API's own
    capacity, for reference); then the target measurement: start C{crawls}
    crawls of the site (C{submit(stack, base, truth)} -> job id; enough to
    outlast this phase) and load C{GET /jobs/ID} on the first; then
    C{POST /jobs} (one-page jobs, which the workers then crawl too).
    Says whether crawling was still going on when the GET phase ended.
    """
    api, short = stack.client.base, max(1, seconds // 2)
    idle = hammer(f"{api}/jobs/{idle_job}", short, connections, workdir)
    job_ids = [submit(stack, base, truth) for _ in range(crawls)]
    get = hammer(f"{api}/jobs/{job_ids[0]}", seconds, connections, workdir)
    jobs = [stack.client.job(job_id) for job_id in job_ids]
    post_body = {"urls": [base + "/"], "max_depth": 0, "max_pages": 1}
    post = hammer(f"{api}/jobs", short, connections, workdir, post_body)
    return {"connections": connections, "seconds": seconds, "get_idle": idle, "get": get, "post": post,
            "crawl_during_get": {"jobs": crawls,
                                 "running_after": sum(j["status"] == "running" for j in jobs),
                                 "pages_crawled_after": sum(j["stats"]["pages_crawled"] for j in jobs)}}
