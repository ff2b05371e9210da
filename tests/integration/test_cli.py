"""
The command-line client end to end: C{python -m client} as a separate
process against a real stack (redis-server, the API, workers) crawling a
fixture site on loopback, with pipes and exit codes as a shell sees them.
"""

import csv
import io
import json
import os
import signal
import subprocess
import sys

from tests.integration import sites
from tests.site import FixtureSite, hang, page
from tests.stack import ROOT, free_port
from tests.wait import wait_for

CLI_TIMEOUT = 120


def cli(stack_or_url, *argv, stdin=None, env=None):
    """Run the client to its end; (exit status, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "client", *argv], input=stdin, capture_output=True, text=True,
        cwd=ROOT, env=_env(stack_or_url, env), timeout=CLI_TIMEOUT)
    return result.returncode, result.stdout, result.stderr


def start_cli(stack, *argv):
    return subprocess.Popen(
        [sys.executable, "-m", "client", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT, env=_env(stack, None))


def created(process):
    """The id of the job a C{crawl --wait} created, from its first line on stderr
    (written once it is waiting)."""
    first = process.stderr.readline()
    assert " created; waiting" in first, first
    return first.split()[1]


def _env(stack_or_url, extra):
    base = stack_or_url if isinstance(stack_or_url, str) else stack_or_url.client.base
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "IMAGECRAWLER_API")}
    return {**env, "IMAGECRAWLER_API": base, **(extra or {})}


def test_crawl_wait_in_a_pipe_prints_exactly_the_images(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(sites.ROUTES) as site:
        code, out, err = cli(stack, "crawl", site.url("/"), "--wait")
    assert code == 0, err
    job_id = err.split()[1]
    assert out.splitlines() == stack.client.lines(f"/jobs/{job_id}/images?format=txt")
    assert len(out.splitlines()) == 19
    assert "\r" not in err, "not a terminal: plain lines, no bar"
    lines = err.splitlines()
    assert lines[0].startswith(f"job {job_id} created; waiting")
    assert lines[-1] == f"job {job_id} completed: 6 of 6 pages, 1 failed, 19 images"

    code, out, err = cli(stack, "images", job_id, "--format", "ndjson")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [
        json.loads(line) for line in stack.client.lines(f"/jobs/{job_id}/images?format=ndjson")]
    code, out, err = cli(stack, "pages", job_id, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["url"] for row in rows} == {site.url(p) for p in sites.DEPTH1_PAGES}
    code, out, _ = cli(stack, "crawl", site.url("/"), "--wait", "--depth", "0", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "url,sources,found_on,alt" and len(out.splitlines()) == 17

    code, out, err = cli(stack, "status", job_id)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["id"] == job_id and shown["status"] == "completed"
    code, out, err = cli(stack, "list", "--limit", "5")
    assert code == 0, err
    assert [row.split("\t")[:3] for row in out.splitlines()][1] == [job_id, "completed", "6/6"]


def test_urls_from_a_file_and_from_stdin(make_stack, tmp_path):
    stack = make_stack(workers=1)
    with FixtureSite(sites.ROUTES) as site:
        listed = tmp_path / "urls.txt"
        listed.write_text(f"# two pages\n{site.url('/a')}\n{site.url('/b')}\n")
        code, out, err = cli(stack, "crawl", "-f", str(listed), "--depth", "0", "--max-pages", "5")
        assert code == 0, err
        from_file = out.strip()
        code, out, err = cli(stack, "crawl", "-", "--depth", "0", stdin=site.url("/new") + "\n")
        assert code == 0, err
        from_stdin = out.strip()
        first = stack.client.wait_done(from_file)
        second = stack.client.wait_done(from_stdin)
    assert first["urls"] == [site.url("/a"), site.url("/b")]
    assert first["options"]["max_depth"] == 0 and first["options"]["max_pages"] == 5
    assert second["urls"] == [site.url("/new")]


def test_errors_exit_1_with_the_apis_message_and_usage_exits_2(make_stack):
    stack = make_stack(workers=1)
    code, out, err = cli(stack, "status", "no-such-job")
    assert (code, out) == (1, "")
    assert err.startswith("error: HTTP 404 no_such_job: no job with id"), err
    code, _, err = cli(stack, "crawl", "ftp://example.test/")
    assert code == 1 and "HTTP 422 invalid_url" in err, err
    closed = f"http://127.0.0.1:{free_port()}"
    code, _, err = cli(closed, "list")
    assert code == 1 and err.startswith(f"error: cannot reach the API at {closed}"), err
    code, _, err = cli(stack, "crawl", "http://example.test/", "--depth", "many")
    assert code == 2 and "usage:" in err and "Traceback" not in err


def test_a_cancelled_job_exits_3_and_ctrl_c_leaves_the_job_running(make_stack):
    stack = make_stack(workers=1, WORKER_CONCURRENCY=1, FETCH_TIMEOUT=30)
    routes = {"/": page("".join(f'<a href="/p{i}">{i}</a>' for i in range(20)))}
    routes.update({f"/p{i}": (200, {"Content-Type": "text/html"}, hang) for i in range(20)})
    with FixtureSite(routes) as site:
        waiting = start_cli(stack, "crawl", site.url("/"), "--wait")
        job_id = created(waiting)
        wait_for(lambda: site.hits["/p0"], 30, "a hanging page to be fetched")
        code, out, err = cli(stack, "cancel", job_id)
        assert (code, out) == (0, f"job {job_id} cancelled\n"), err
        out, err = waiting.communicate(timeout=CLI_TIMEOUT)
        assert waiting.returncode == 3, err
        assert err.splitlines()[-1] == f"job {job_id} was cancelled"
        assert out == "", "the home page has no images"

        interrupted = start_cli(stack, "crawl", site.url("/"), "--wait")
        second = created(interrupted)
        interrupted.send_signal(signal.SIGINT)
        out, err = interrupted.communicate(timeout=CLI_TIMEOUT)
        assert stack.client.job(second)["status"] in ("queued", "running")
    assert interrupted.returncode == 130, err
    assert "Traceback" not in err
    assert f"job {second} keeps running" in err


def test_the_token_and_json_logs(make_stack):
    stack = make_stack(workers=1, API_TOKEN="first-token,second-token", LOG_FORMAT="json",
                       LOG_LEVEL="debug")
    tokens = {"API_TOKEN": "first-token, second-token"}
    with FixtureSite(sites.ROUTES) as site:
        code, out, err = cli(stack, "crawl", site.url("/b"), "--depth", "0", "--wait", env=tokens)
        assert code == 0, err
        assert out.splitlines() == [site.url("/sub/x.png")]
    code, _, err = cli(stack, "list")
    assert code == 1 and err.startswith("error: HTTP 401"), err
    code, _, err = cli(stack, "list", env={"API_TOKEN": "wrong"})
    assert code == 1 and err.startswith("error: HTTP 401"), err

    def events(process):
        records = [json.loads(line) for line in process.output().splitlines() if line.strip()]
        assert all({"time", "level", "process", "system", "event", "message"} <= set(r)
                   for r in records)
        return records

    api_events = wait_for(
        lambda: (lambda r: r if {"job.created", "worker.joined"} <= {e["event"] for e in r} else None)(
            events(stack.api)), 30, "job.created and worker.joined in the API's JSON log")
    created = next(e for e in api_events if e["event"] == "job.created")
    assert created["url"] == site.url("/b") and created["process"] == "api"
    joined = next(e for e in api_events if e["event"] == "worker.joined")
    assert joined["worker"] == "worker1"
    crawled = next(e for e in events(stack.workers[0]) if e["event"] == "page.crawled")
    assert crawled["job"] == created["job"] and crawled["url"] == site.url("/b")
    assert crawled["status"] == 200 and crawled["images"] == 1 and crawled["level"] == "debug"
