"""
The real parser pool: real children under a real reactor, each scenario in
its own process (tests/integration/parsing_scenarios.py says why), compared
with parsing inline in this one.
"""

import json
import subprocess
import sys

from bench.parse_cost import archive_page
from tests.fakes_parsing import FakeSpawn
from tests.integration.parsing_scenarios import CAP, SMALL, Events, pages
from worker.decoding import decode_html
from worker.extract import extract
from worker.parsing import CHILD_ARGS, ROOT, STOP_GRACE_SECONDS, summarize

PARSED_SMALL = {"parsed": vars(summarize(extract(decode_html(SMALL[0], SMALL[1]), SMALL[2]), CAP))}


def scenario(name, timeout=120):
    """Run one scenario; what it printed, as JSON."""
    done = subprocess.run([sys.executable, "-m", "tests.integration.parsing_scenarios", name],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"scenario {name} failed:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def inline(body, content_type, url):
    return {"parsed": vars(summarize(extract(decode_html(body, content_type), url), CAP))}


def test_the_pool_gives_what_inline_parsing_gives():
    assert scenario("same_results") == [inline(*page) for page in pages()]


def test_a_page_over_the_timeout_fails_alone_and_its_child_is_replaced():
    found = scenario("timeout")
    assert found["slow"] == {"error": "ParseTimeout", "message": "parsing took longer than 0.5 s"}
    assert found["small"] == found["after"] == PARSED_SMALL
    assert found["spawned"] == 3
    # the page needs seconds to parse; it failed at the timeout
    assert found["failed_after"] < 1.5


def test_a_child_killed_mid_page_fails_only_that_page():
    found = scenario("sigkill")
    results = found["results"]
    [crashed] = [r for r in results if "error" in r]
    assert crashed == {"error": "ParserCrashed",
                       "message": "the parser process was killed by signal 9 (SIGKILL)"}
    [survivor] = [n for n, r in zip((1, 2), results) if "parsed" in r]
    page = archive_page(survivor)
    assert results[survivor - 1] == inline(page.body, "text/html", page.url)
    assert found["after"] == PARSED_SMALL and found["spawned"] == 3


def test_the_reactor_keeps_running_while_a_child_parses_a_big_page():
    found = scenario("lag")
    assert found["images"] > 10_000 and found["parse_seconds"] > 0.5
    assert found["max_lag"] < found["parse_seconds"] / 10, found


def test_stop_lets_the_children_exit_on_eof():
    found = scenario("stop")
    assert found["gone"] == found["pids"] and len(found["pids"]) == 2
    assert found["seconds"] < STOP_GRACE_SECONDS


def _fake_run(**end):
    events = Events()
    process = FakeSpawn()(events, sys.executable, [sys.executable, *CHILD_ARGS])
    process.end(**end)
    process.write(b"after the end")
    try:
        process.signalProcess("KILL")
        raised = None
    except Exception as e:
        raised = type(e).__name__
    return {"events": events.events, "pid": process.pid, "signal_after_end": raised}


def test_the_fake_process_ends_as_a_real_one_does():
    real = scenario("contract")
    for how, end in (("eof", {}), ("kill", {"signal": 9})):
        fake = _fake_run(**end)
        assert sorted(fake["events"]) == sorted(real[how]["events"]), how
        assert fake["events"][-1] == real[how]["events"][-1] and fake["events"][-1][0] == "processEnded"
        assert (fake["pid"], fake["signal_after_end"]) == (
            real[how]["pid"], real[how]["signal_after_end"]) == (None, "ProcessExitedAlready")


def test_the_child_imports_no_twisted():
    code = ("import sys, worker.parse_child; "
            "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'twisted'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"
