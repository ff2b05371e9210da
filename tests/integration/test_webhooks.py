"""
Webhooks on real processes: redis-server, the API, a worker, a fixture
site on 127.0.0.2 and a fixture receiver on 127.0.0.3 that checks every
signature and answers as told (500 twice, then 200).  The address guard
is on (ALLOW_PRIVATE_NETWORKS=0), with only those two addresses allowed,
so a callback to any other loopback address is refused and recorded.
"""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.site import FixtureSite, page
from tests.wait import wait_for

SECRET = "integration-secret"
SITE_HOST, RECEIVER_HOST = "127.0.0.2", "127.0.0.3"
SETTINGS = {
    "WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_BASE": "0.2", "WEBHOOK_RETRY_MAX": "1",
    "WEBHOOK_TIMEOUT": "3", "ALLOW_PRIVATE_NETWORKS": "0",
    "ALLOW_NETWORKS": f"{SITE_HOST}/32, {RECEIVER_HOST}/32", "OBEY_ROBOTS": "0",
}
ROUTES = {"/": page('<img src="/a.png"><a href="/b">b</a>'), "/b": page('<img src="/b.png">')}
TIMEOUT = 60


class Receiver:
    """
    A webhook receiver: answers each POST with the next of C{codes} (the
    last thereafter) and keeps what arrived, with whether its signature held.
    """

    def __init__(self, codes):
        self.codes = list(codes)
        self.posts = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(self.headers.get("X-Signature-256", ""), expected)
                with receiver.lock:
                    code = receiver.codes.pop(0) if len(receiver.codes) > 1 else receiver.codes[0]
                    receiver.posts.append({"signed": signed, "id": self.headers["X-Event-Id"],
                                           "body": json.loads(body), "code": code})
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((RECEIVER_HOST, 0), Handler)
        self.url = f"http://{RECEIVER_HOST}:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self):
        """The events answered 2xx, one per event id (a receiver's dedup)."""
        with self.lock:
            return {p["id"]: p["body"] for p in self.posts if p["code"] < 300}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*codes):
        made.append(Receiver(codes or (200,)))
        return made[-1]

    yield make
    for r in made:
        r.close()


def ledger(stack, job_id):
    status, entries = stack.client.json("GET", f"/jobs/{job_id}/callbacks")
    assert status == 200, entries
    return entries


def settled(stack, job_id, count=1):
    """The ledger once C{count} deliveries in it are final."""
    def final():
        entries = ledger(stack, job_id)
        done = [e for e in entries if e["outcome"] != "retry"]
        return entries if len(done) >= count else None
    return wait_for(final, TIMEOUT, f"{count} final webhook deliveries of job {job_id}")


def test_completion_is_retried_signed_and_delivered_once_per_id(make_stack, receiver):
    hook = receiver(500, 500, 200)
    stack = make_stack(workers=1, **SETTINGS)
    with FixtureSite(ROUTES, host=SITE_HOST) as site:
        job_id = stack.client.submit([site.url("/")], callback_url=hook.url)
        job = stack.client.wait_done(job_id)
    entries = settled(stack, job_id)
    assert job["options"]["callback_url"] == hook.url
    assert [(e["status"], e["outcome"]) for e in entries] == [
        (500, "retry"), (500, "retry"), (200, "delivered")]
    assert len(hook.posts) == 3 and all(p["signed"] for p in hook.posts)
    assert len({p["id"] for p in hook.posts}) == 1
    [(event_id, body)] = hook.delivered().items()
    assert body["id"] == event_id == entries[0]["event_id"]
    assert body["event"] == "job.completed"
    assert body["job"]["status"] == "completed"
    assert body["job"]["stats"]["pages_crawled"] == 2
    assert body["job"]["stats"]["images_found"] == 2
    wait_for(lambda: f"job {job_id} completed in " in stack.api.output(), 10,
             "the completion's info line in the API's log")


def test_cancel_is_sent_and_a_blocked_address_is_refused(make_stack, receiver):
    hook = receiver(200)
    stack = make_stack(workers=0, **SETTINGS)
    cancelled = stack.client.submit([f"http://{SITE_HOST}:9/"], callback_url=hook.url)
    blocked = stack.client.submit([f"http://{SITE_HOST}:9/"],
                                  callback_url=hook.url.replace(RECEIVER_HOST, "127.0.0.4"))
    for job_id in (cancelled, blocked):
        assert stack.client.json("DELETE", f"/jobs/{job_id}")[0] == 200
    [sent] = settled(stack, cancelled)
    assert sent["event"] == "job.cancelled" and sent["outcome"] == "delivered"
    assert [b["event"] for b in hook.delivered().values()] == ["job.cancelled"]
    [refused] = settled(stack, blocked)
    assert refused["outcome"] == "given_up"
    assert refused["error"] == "refused: blocked: loopback address"
    assert refused["status"] is None


def test_a_restarted_api_resumes_pending_retries(make_stack, receiver):
    hook = receiver(500, 200)
    stack = make_stack(workers=0, **{**SETTINGS, "WEBHOOK_RETRY_BASE": "6", "WEBHOOK_RETRY_MAX": "6"})
    job_id = stack.client.submit([f"http://{SITE_HOST}:9/"], callback_url=hook.url)
    stack.client.json("DELETE", f"/jobs/{job_id}")
    wait_for(lambda: ledger(stack, job_id), TIMEOUT, "the first, failed attempt")
    assert stack.api.stop() == 0
    stack.start_api()
    entries = settled(stack, job_id)
    assert [e["outcome"] for e in entries] == ["retry", "delivered"]
    assert len({p["id"] for p in hook.posts}) == 1 and len(hook.delivered()) == 1
