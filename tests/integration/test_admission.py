"""
Admission control on the real API process over a real Redis: a client
that submits fast is held to its burst with 429 and Retry-After while
another client (another source address, or another token) is not, and a
job that never starts is cancelled after its time to live.  No workers: the jobs stay
queued, nothing is fetched.
"""

import http.client
import json
import time

from tests.wait import wait_for

LIMITS = {"CLIENT_JOBS_PER_MINUTE": 30, "CLIENT_JOBS_BURST": 10, "TOTAL_JOBS_PER_MINUTE": 600,
          "TOTAL_JOBS_BURST": 60, "CLIENT_LIVE_JOBS": 20, "CLIENT_PAGES_PER_HOUR": 100_000}


def post_job(stack, source):
    """C{POST /jobs} from the address C{source}: status, Retry-After, body."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=30,
                                            source_address=(source, 0))
    try:
        connection.request("POST", "/jobs?max_depth=0&max_pages=10", b"http://127.0.0.1:9/",
                           {"Content-Type": "text/plain"})
        response = connection.getresponse()
        return response.status, response.getheader("Retry-After"), json.loads(response.read())
    finally:
        connection.close()


def test_a_fast_client_meets_its_limit_and_another_client_does_not(make_stack):
    stack = make_stack(workers=0, **LIMITS)
    started = time.monotonic()
    answers = [post_job(stack, "127.0.0.1") for _ in range(50)]
    elapsed = time.monotonic() - started
    statuses = [status for status, _, _ in answers]
    assert statuses[:10] == [201] * 10
    # the burst, and what the bucket refilled (half a job a second) meanwhile
    assert 10 <= statuses.count(201) <= 10 + int(elapsed * 0.5) + 1, statuses
    refused = [(after, body) for status, after, body in answers if status == 429]
    assert len(refused) == 50 - statuses.count(201)
    assert all(body["error"]["code"] == "rate_limited" for _, body in refused)
    assert all(after.isdigit() and 1 <= int(after) <= 2 for after, _ in refused), refused
    status, _, body = post_job(stack, "127.0.0.2")
    assert status == 201, body


def test_with_tokens_each_token_is_a_client(make_stack):
    stack = make_stack(workers=0, API_TOKEN="alpha,beta", **LIMITS)

    def submit(token):
        return stack.client.request("POST", "/jobs?max_depth=0&max_pages=10",
                                    b"http://127.0.0.1:9/", "text/plain",
                                    {"Authorization": f"Bearer {token}"})

    answers = [submit("alpha") for _ in range(20)]
    refused = [headers for status, headers, _ in answers if status == 429]
    assert refused and all(int(headers["Retry-After"]) >= 1 for headers in refused)
    assert submit("beta")[0] == 201


def test_a_job_that_never_starts_is_cancelled_after_its_time_to_live(make_stack, redis_server):
    stack = make_stack(workers=0, JOB_TTL_SECONDS=3)
    job_id = stack.client.submit(["http://127.0.0.1:9/"], max_depth=0)
    assert stack.client.job(job_id)["status"] == "queued"
    job = wait_for(lambda: (j := stack.client.job(job_id))["status"] == "cancelled" and j,
                   30, "the queued job to expire")
    assert job["finished_at"] is not None
    assert redis_server.command("HGET", f"ic:job:{job_id}", "cancel_reason") == \
        "expired before it started"
