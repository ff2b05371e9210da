"""
The stack in containers, end to end: fig.yml with three workers, crawls of a
fixture site submitted with curl, scaling down in the middle of a crawl,
faults (a killed worker, a restarted api and redis), and a clean `down -v`.

The tests share one compose project (session fixture `stack`) and run in
file order; each one sets up the worker count it needs, so one failure does
not cascade.  See conftest.py for how to run the tier.
"""

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from .conftest import REPO, SITE, WORKERS

pytestmark = [pytest.mark.containers]
if importlib.util.find_spec("pytest_timeout"):
    # The first test also pays for building the images (and, on a fresh
    # machine, the debootstrap base image): more than the default 300 s.
    pytestmark.append(pytest.mark.timeout(900))

# The fault-free result of the large crawl, for the fault test to compare with.
_baseline = {}


def _page_urls(pages):
    return {p["url"] for p in pages}


def _assert_exact(stack, job_id, want_pages, want_images):
    job = stack.job(job_id)
    assert job["status"] == "completed", job
    images = stack.image_urls(job_id)
    pages = stack.pages(job_id)
    assert images == want_images, (
        f"image set differs: missing {sorted(want_images - images)}, "
        f"unexpected {sorted(images - want_images)}")
    assert _page_urls(pages) == want_pages, (
        f"page set differs: missing {sorted(want_pages - _page_urls(pages))}, "
        f"unexpected {sorted(_page_urls(pages) - want_pages)}")
    bad = [p for p in pages if str(p.get("status")) != "200"]
    assert not bad, f"pages not crawled with 200: {bad}"
    stats = job["stats"]
    assert stats["pages_crawled"] == len(want_pages), stats
    assert stats["pages_failed"] == 0, stats
    assert stats["images_found"] == len(want_images), stats
    return job, images, pages


def _worker_hostnames(stack):
    return {stack.inspect(c, "{{.Config.Hostname}}") for c in stack.containers("worker")}


def _hostname_of(worker_id, hostnames):
    matches = [h for h in hostnames if worker_id == h or worker_id.startswith(h + "-")]
    return matches[0] if len(matches) == 1 else None


def _site_manners(stack, reset=False):
    """What the fixture site saw of the crawler (site_server.py's /_stats)."""
    url = "http://127.0.0.1:8080/_stats" + ("?reset=1" if reset else "")
    out = stack.compose("exec", "-T", "site", "python3", "-c",
                        f"import urllib.request; print(urllib.request.urlopen({url!r}).read().decode())")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wait_crawled(stack, job_id, at_least, timeout=120):
    """Wait until at least `at_least` pages are crawled; return the job then."""
    def probe():
        job = stack.job(job_id)
        if job["status"] == "completed":
            stack.fail(f"job {job_id} completed before {at_least} pages were crawled: "
                       "the fixture site is too fast for this test (raise CONTAINERS_SITE_DELAY)")
        return job if job["stats"]["pages_crawled"] >= at_least else None
    return stack.wait_for(f"job {job_id} to crawl {at_least} pages", probe, timeout, interval=0.2)


def test_health_endpoints(stack):
    status, body = stack.http("/healthz")
    assert status == 200
    assert isinstance(json.loads(body), dict)
    assert stack.ready()
    # Every container reports healthy through its image's HEALTHCHECK.
    for service in ("redis", "api", "worker"):
        assert stack.service_healthy(service), f"{service} is not healthy"


def test_small_crawl_exact_results(stack, fixture_site):
    """a. A crawl submitted with curl finds exactly the site's images and pages."""
    started = time.monotonic()
    job_id = stack.submit([SITE + "/a/"], max_depth=5)
    stack.wait_completed(job_id, timeout=120)
    _assert_exact(stack, job_id, fixture_site.small_pages, fixture_site.small_images)
    print(f"small crawl: {time.monotonic() - started:.1f}s")


def test_plain_curl_form_submission(stack, fixture_site):
    """The README's `curl -d URL` form works against the containers too."""
    code, text = stack.curl("-d", SITE + "/a/", stack.base + "/jobs?max_depth=0")
    assert code == 201, text
    job_id = json.loads(text)["id"]
    stack.wait_completed(job_id, timeout=60)
    assert _page_urls(stack.pages(job_id)) == {SITE + "/a/"}
    assert stack.image_urls(job_id) == {
        f"{SITE}/a/img/{n}" for n in ("logo.png", "photo-1x.png", "photo-2x.png",
                                       "photo.png", "og.png")}


def test_command_line_client(stack, fixture_site):
    """The CLI (python -m client, run on the host) against the containers:
    crawl --wait in a pipe prints exactly the job's images; the API's log
    in the container is JSON lines that name the job."""
    env = {**os.environ, "IMAGECRAWLER_API": stack.base}
    env.pop("API_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "client", "crawl", SITE + "/a/", "--depth", "0", "--wait"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    job_id = result.stderr.split()[1]
    assert set(result.stdout.split()) == stack.image_urls(job_id) == {
        f"{SITE}/a/img/{n}" for n in ("logo.png", "photo-1x.png", "photo-2x.png",
                                       "photo.png", "og.png")}
    status = subprocess.run([sys.executable, "-m", "client", "status", job_id],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "completed"

    api = stack.containers("api")[0]
    logged = subprocess.run(["docker", "logs", api], capture_output=True, text=True, check=True)
    records = [json.loads(line) for line in logged.stdout.splitlines() if line.strip()]
    assert any(r["event"] == "job.created" and r.get("job") == job_id for r in records)


def test_three_workers_share_the_work(stack, fixture_site):
    """c. With three workers, each one crawls part of a large job."""
    stack.scale_workers(WORKERS)
    stack.wait_for(f"{WORKERS} healthy workers", lambda: len(stack.containers("worker")) == WORKERS
                   and stack.service_healthy("worker"), 90)
    hostnames = _worker_hostnames(stack)
    assert len(hostnames) == WORKERS

    started = time.monotonic()
    _site_manners(stack, reset=True)
    job_id = stack.submit([SITE + "/b/"], max_depth=10)
    stack.wait_completed(job_id, timeout=240)
    job, images, pages = _assert_exact(
        stack, job_id, fixture_site.large_pages, fixture_site.large_images)
    _baseline.update(images=images, pages=_page_urls(pages))
    manners = _site_manners(stack)
    print(f"large crawl, {WORKERS} workers: {time.monotonic() - started:.1f}s; the site saw {manners}")
    # One crawler, however many workers: the pool-wide limit (HOST_CONCURRENCY,
    # 4 by default) holds at the site, and robots.txt is fetched at most once.
    assert 2 <= manners["most_in_flight"] <= 4, manners
    assert manners["robots"] <= 1, manners

    per_host = {}
    for page in pages:
        host = _hostname_of(str(page.get("worker")), hostnames)
        assert host is not None, (
            f"page {page['url']} was crawled by {page.get('worker')!r}, "
            f"which is none of the worker containers {sorted(hostnames)}")
        per_host[host] = per_host.get(host, 0) + 1
    assert set(per_host) == hostnames, f"pages per worker container: {per_host}"


def test_scale_down_mid_crawl(stack, fixture_site):
    """b. `scale worker=1` in the middle of a crawl; the job still completes exactly."""
    stack.scale_workers(WORKERS)
    stack.wait_for(f"{WORKERS} workers", lambda: len(stack.containers("worker")) == WORKERS, 90)
    job_id = stack.submit([SITE + "/b/"], max_depth=10)
    job = _wait_crawled(stack, job_id, at_least=8)
    assert job["status"] in ("queued", "running"), job

    started = time.monotonic()
    stack.scale_workers(1)
    print(f"scaled {WORKERS} -> 1 in {time.monotonic() - started:.1f}s at "
          f"{job['stats']['pages_crawled']}/{len(fixture_site.large_pages)} pages")
    assert len(stack.containers("worker")) == 1

    stack.wait_completed(job_id, timeout=300)
    _assert_exact(stack, job_id, fixture_site.large_pages, fixture_site.large_images)


@pytest.mark.container_faults
def test_faults_mid_crawl(stack, fixture_site):
    """e. kill -9 a worker, restart the api, restart redis, all mid-job: same result set."""
    stack.scale_workers(WORKERS)
    stack.wait_for(f"{WORKERS} healthy workers", lambda: len(stack.containers("worker")) == WORKERS
                   and stack.service_healthy("worker"), 90)
    total = len(fixture_site.large_pages)
    started = time.monotonic()
    job_id = stack.submit([SITE + "/b/"], max_depth=10)

    _wait_crawled(stack, job_id, at_least=5)
    victim = stack.containers("worker")[0]
    subprocess.run(["docker", "kill", victim], check=True, stdout=subprocess.DEVNULL)
    print(f"killed worker {victim[:12]} at t={time.monotonic() - started:.1f}s")

    _wait_crawled(stack, job_id, at_least=total // 3)
    api = stack.containers("api")[0]
    subprocess.run(["docker", "restart", "-t", "10", api], check=True, stdout=subprocess.DEVNULL)
    print(f"restarted api at t={time.monotonic() - started:.1f}s")
    stack.wait_ready(timeout=90)

    _wait_crawled(stack, job_id, at_least=total // 2, timeout=180)
    redis = stack.containers("redis")[0]
    subprocess.run(["docker", "restart", "-t", "10", redis], check=True, stdout=subprocess.DEVNULL)
    print(f"restarted redis at t={time.monotonic() - started:.1f}s")
    stack.wait_ready(timeout=90)

    stack.wait_completed(job_id, timeout=300)
    job = stack.job(job_id)
    images = stack.image_urls(job_id)
    pages = stack.pages(job_id)
    print(f"fault run: {time.monotonic() - started:.1f}s, stats {job['stats']}")
    assert images == fixture_site.large_images, (
        f"missing {sorted(fixture_site.large_images - images)}, "
        f"unexpected {sorted(images - fixture_site.large_images)}")
    assert _page_urls(pages) == fixture_site.large_pages
    if _baseline:
        assert images == _baseline["images"] and _page_urls(pages) == _baseline["pages"]
    assert job["stats"]["pages_crawled"] == total, job["stats"]
    assert job["stats"]["pages_failed"] == 0, job["stats"]


def test_down_leaves_nothing(stack):
    """d. `down -v` removes every container, network and volume of the project."""
    print(f"compose logs of {stack.project}: {stack.save_logs()}")
    stack.compose("down", "-v", "--remove-orphans", "-t", "30", timeout=240)
    label = f"label=com.docker.compose.project={stack.project}"
    left = {}
    for kind, cmd in (
        ("containers", ["docker", "ps", "-a", "-q", "--filter", label]),
        ("networks", ["docker", "network", "ls", "-q", "--filter", label]),
        ("volumes", ["docker", "volume", "ls", "-q", "--filter", label]),
    ):
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.split()
        if out:
            left[kind] = out
    assert not left, f"left behind by down -v: {left}"
