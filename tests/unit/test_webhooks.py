"""
Webhooks without a network: the sender (api/webhooks.py) posting through
treq's in-memory client (StubTreq) to a resource that answers as told, the
events feed (api/events_feed.py), and the job options (api/callbacks.py),
all over the fake store with time on a L{Clock}.
"""

import hashlib
import hmac
import json
from datetime import datetime

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import fail, maybeDeferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from api import callbacks
from api.events_feed import EventsFeed
from api.webhooks import WebhookSender, body_of, signature, verdict
from common import keys
from common.config import from_env
from common.lifecycle import EventStore
from common.safety import BlockedAddress
from tests.fakes import FakeStore
from tests.unit.conftest import OPTIONS, T0, Harness, result_of, urls

SECRET = "s3cret"
HOOK = "http://hook.example/events"
CONFIG = from_env({"WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_BASE": "2",
                   "WEBHOOK_RETRY_MAX": "60", "WEBHOOK_MAX_ATTEMPTS": "4"})
WEBHOOK_OPTIONS = {"callback_url": HOOK, "callback_events": ["completed", "cancelled", "failed"],
                   "callback_every_pages": 100}


class Receiver(Resource):
    """Answers each POST with the next of C{codes} (the last one thereafter)."""

    isLeaf = True

    def __init__(self, codes):
        super().__init__()
        self.codes = list(codes)
        self.requests = []

    def render_POST(self, request):
        self.requests.append((request.requestHeaders, request.content.read()))
        request.setResponseCode(self.codes.pop(0) if len(self.codes) > 1 else self.codes[0])
        return b"ok"


class Fatal:
    def __init__(self):
        self.failures = []

    def watch(self, d, what):
        d.addErrback(self.failures.append)


class Stack:
    """The fake store, its events, the feed and the sender over one receiver."""

    def __init__(self, codes=(200,), client=None):
        self.clock = Clock()
        self.clock.advance(T0)
        fake = FakeStore(self.clock)
        self.store = Harness("fake", fake, self.clock, lambda f: result_of(maybeDeferred(f)))
        self.events = EventStore(fake.redis, self.clock)
        self.receiver = Receiver(codes)
        self.stub = StubTreq(self.receiver)
        self.fatal = Fatal()
        self.feed = EventsFeed(self.clock, self.events, "api-1", self.fatal)
        self.sender = WebhookSender(self.clock, self.events, client or self.stub, CONFIG,
                                    self.fatal, random=lambda: 0.0)
        self.feed.startService()
        self.sender.startService()

    def job(self, **options):
        return self.store.create(urls(1), {**OPTIONS, **WEBHOOK_OPTIONS, **options})

    def run(self, seconds, step=0.5):
        """Let C{seconds} pass on the clock, a poll at a time."""
        for _ in range(int(seconds / step)):
            self.clock.advance(step)
            self.stub.flush()
        assert self.fatal.failures == []

    def ledger(self, job_id):
        return result_of(maybeDeferred(self.events.ledger, job_id))


def test_signature_is_hmac_sha256_of_the_body():
    # RFC 4231, test case 2.
    assert signature("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_an_event_is_posted_signed_with_its_id():
    stack = Stack()
    job_id = stack.job()
    stack.store.cancel(job_id)
    stack.run(1)
    [(headers, body)] = stack.receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers.getRawHeaders("x-signature-256") == [expected]
    assert headers.getRawHeaders("content-type") == ["application/json"]
    assert headers.getRawHeaders("user-agent") == [CONFIG.crawl_user_agent]
    payload = json.loads(body)
    assert headers.getRawHeaders("x-event-id") == [payload["id"]]
    assert payload["event"] == "job.cancelled"
    assert payload["job"]["id"] == job_id and payload["job"]["status"] == "cancelled"
    assert payload["time"].startswith("2023-11-14T22:13:20")
    [entry] = stack.ledger(job_id)
    assert (entry["attempt"], entry["status"], entry["outcome"]) == (1, 200, "delivered")


def test_failures_are_retried_with_backoff_and_the_same_body():
    stack = Stack(codes=(500, 503, 200))
    job_id = stack.job()
    stack.store.cancel(job_id)
    stack.run(1)
    assert len(stack.receiver.requests) == 1
    stack.run(30)
    bodies = {body for _, body in stack.receiver.requests}
    assert len(stack.receiver.requests) == 3 and len(bodies) == 1
    ledger = stack.ledger(job_id)
    assert [(e["status"], e["outcome"]) for e in ledger] == [
        (500, "retry"), (503, "retry"), (200, "delivered")]
    # Half of 2 s, then of 4 s (WEBHOOK_RETRY_BASE 2; random() is 0), kept to the poll.
    waits = [seconds(e["next_attempt_at"]) - seconds(e["at"]) for e in ledger[:2]]
    assert waits == [1.0, 2.0] and ledger[2]["next_attempt_at"] is None
    gaps = [seconds(b["at"]) - seconds(a["at"]) for a, b in zip(ledger, ledger[1:])]
    assert 1.0 <= gaps[0] <= 1.5 and 2.0 <= gaps[1] <= 2.5


def seconds(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("code", [400, 404, 410, 301])
def test_a_refusal_gives_up_at_once(code):
    stack = Stack(codes=(code,))
    job_id = stack.job()
    stack.store.cancel(job_id)
    stack.run(60)
    assert len(stack.receiver.requests) == 1
    [entry] = stack.ledger(job_id)
    assert (entry["status"], entry["outcome"]) == (code, "given_up")
    assert result_of(stack.store.store.redis.zcard(keys.WEBHOOK_DUE)) == 0


def test_attempts_are_bounded():
    stack = Stack(codes=(429,))
    job_id = stack.job()
    stack.store.cancel(job_id)
    stack.run(300)
    assert len(stack.receiver.requests) == CONFIG.webhook_max_attempts
    outcomes = [e["outcome"] for e in stack.ledger(job_id)]
    assert outcomes == ["retry"] * (CONFIG.webhook_max_attempts - 1) + ["given_up"]


class Silent(Resource):
    """Never answers."""

    isLeaf = True

    def render_POST(self, request):
        return NOT_DONE_YET


def test_no_answer_within_the_timeout_is_tried_again():
    stack = Stack(client=StubTreq(Silent()))
    job_id = stack.job()
    stack.store.cancel(job_id)
    stack.run(CONFIG.webhook_timeout + 1)
    [entry] = stack.ledger(job_id)
    assert (entry["outcome"], entry["error"]) == ("retry", "no answer within 10 s")


def test_verdicts():
    assert [verdict(c) for c in (200, 204, 408, 429, 500, 599, 302, 401, 404)] == [
        "delivered", "delivered", "retry", "retry", "retry", "retry",
        "given_up", "given_up", "given_up"]


class Refusing:
    """A client whose every connection the address guard refuses."""

    def post(self, url, **kwargs):
        return fail(BlockedAddress(string="blocked: loopback address"))


def test_a_blocked_address_is_given_up_and_recorded():
    stack = Stack(client=Refusing())
    job_id = stack.job()
    stack.store.cancel(job_id)
    stack.run(60)
    [entry] = stack.ledger(job_id)
    assert entry["outcome"] == "given_up"
    assert entry["error"] == "refused: blocked: loopback address"


def test_events_a_job_did_not_ask_for_are_acked_unsent():
    stack = Stack()
    plain = stack.store.create(urls(1), OPTIONS)
    only_completed = stack.job(callback_events=["completed"])
    stack.store.cancel(plain)
    stack.store.cancel(only_completed)
    stack.run(5)
    assert stack.receiver.requests == []
    pending = result_of(stack.store.store.redis.execute_command(
        "XPENDING", keys.JOB_EVENTS, keys.EVENTS_GROUP))
    assert pending[0] == 0


def test_completion_is_logged_with_its_stats_and_time():
    stack = Stack()
    job_id = stack.store.create(urls(1), OPTIONS)
    stack.store.heartbeat("w1", 1000, 10)
    [task] = stack.store.tasks()
    stack.clock.advance(3)
    stack.store.crawl(task, images=[["http://a.example/x.png", ["img"]]])
    with capturedLogs() as logged:
        stack.run(0.5)
    [line] = [e for e in logged if e.get("event") == "job.completed"]
    assert line["job"] == job_id
    assert line["stats"]["pages_crawled"] == 1 and line["stats"]["images_found"] == 1
    assert line["duration"] == pytest.approx(3.5, abs=0.6)


def test_an_event_left_by_a_dead_reader_is_handed_on_again():
    stack = Stack()
    job_id = stack.job()
    stack.store.cancel(job_id)
    result_of(maybeDeferred(stack.events.join))
    result_of(maybeDeferred(stack.events.read_new, "api-dead", 10))   # read, then died
    stack.run(5)
    assert stack.receiver.requests == []
    stack.feed.stopService()
    stack.feed = EventsFeed(stack.clock, stack.events, "api-2", stack.fatal, claim_idle=0)
    stack.feed.startService()
    stack.run(1)
    assert len(stack.receiver.requests) == 1
    assert [e["outcome"] for e in stack.ledger(job_id)] == ["delivered"]


# --- the job options ------------------------------------------------------------------------


def test_options_default_to_no_callback():
    assert callbacks.callback_options({}, CONFIG) == {
        "callback_url": None, "callback_events": ["completed", "cancelled", "failed"],
        "callback_every_pages": 100}


def test_options_are_checked_and_normalised():
    given = {"callback_url": "HTTP://Hook.Example/x", "callback_events": ["progress,completed"],
             "callback_every_pages": "10"}
    assert callbacks.callback_options(given, CONFIG) == {
        "callback_url": "http://hook.example/x", "callback_events": ["progress", "completed"],
        "callback_every_pages": 10}


@pytest.mark.parametrize("given, message", [
    ({"callback_url": "ftp://hook.example/"}, "callback_url"),
    ({"callback_url": ["http://hook.example/"]}, "callback_url: URL must be a string"),
    ({"callback_events": ["finished"]}, "unknown event(s) finished"),
    ({"callback_events": 3}, "callback_events must be a list"),
    ({"callback_every_pages": 0}, "callback_every_pages must be an integer"),
    ({"callback_every_pages": True}, "callback_every_pages must be an integer"),
])
def test_bad_options_name_the_problem(given, message):
    with pytest.raises(callbacks.CallbackOptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        callbacks.callback_options(given, CONFIG)


def test_a_callback_needs_the_secret():
    with pytest.raises(callbacks.CallbackOptionError) as raised:
        callbacks.callback_options({"callback_url": HOOK}, from_env({}))
    assert raised.value.code == "webhooks_disabled"
    assert "WEBHOOK_SECRET" in str(raised.value)


def test_body_is_the_event_alone():
    stack = Stack()
    job_id = stack.job()
    stack.store.cancel(job_id)
    result_of(maybeDeferred(stack.events.join))
    [event] = result_of(maybeDeferred(stack.events.read_new, "x", 10))
    assert body_of(event) == body_of(event)
    assert json.loads(body_of(event))["job"]["stats"]["pages_admitted"] == 1
