"""
Send a job's lifecycle events to its C{callback_url}: signed, retried, recorded.

Each delivery is one POST of a JSON body built from the event alone (the
same bytes on every attempt), signed with HMAC-SHA256 over those bytes
(C{X-Signature-256: sha256=<hex>}) and named by the event's stream id
(C{X-Event-Id}, and C{"id"} in the body) so that a receiver dedupes
redeliveries.  A 2xx answer delivers it; 408, 429, 5xx and network
errors are tried again with exponential backoff and jitter up to
C{WEBHOOK_MAX_ATTEMPTS}; any other answer, or an address the network
guard refuses, gives it up at once.  Every attempt goes into the job's
ledger (C{GET /jobs/ID/callbacks}).

The schedule lives in Redis (L{common.lifecycle.EventStore}), so an API
restart resumes pending retries; the client connects through
L{common.safety} exactly as the crawler does (C{ALLOW_PRIVATE_NETWORKS},
C{ALLOW_NETWORKS}), and follows no redirect.
"""

import hashlib
import hmac
import json
import random as _random

import treq
from treq.client import HTTPClient
from twisted.internet.defer import Deferred, DeferredList, TimeoutError
from twisted.logger import Logger
from twisted.web.client import HTTPConnectionPool

from api.views import timestamp
from common import keys
from common.process import Periodic
from common.retry import backoff
from common.safety import BlockedAddress, guarded_agent
from common.store import COUNTERS, redis_down

log = Logger()

# Answers that say "not now" (as for pages, common.retry) rather than "not ever".
RETRY_STATUSES = frozenset((408, 429))
# How much longer than the attempt's timeout an attempt holds its event: the
# settle step must land before another API process may take it again.
HOLD_MARGIN = 30.0


def signature(secret, body):
    """C{X-Signature-256}'s value: C{"sha256=" + hex HMAC-SHA256(secret, body)}."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def event_job(event):
    """The job as the event saw it: id, status, times, stats."""
    state = event.state
    stats = {name: int(state.get(name, 0)) for name in COUNTERS}
    live = state.get("status") in ("queued", "running")
    stats["pages_pending"] = max(0, int(state.get("pending", 0))) if live else 0
    job = {
        "id": event.job,
        "status": state.get("status"),
        "created_at": timestamp(state.get("created_at")),
        "started_at": timestamp(state.get("started_at")),
        "finished_at": timestamp(state.get("finished_at")),
        "stats": stats,
        "links": {"self": f"/jobs/{event.job}"},
    }
    if state.get("cancel_reason"):
        job["cancel_reason"] = state["cancel_reason"]
    return job


def body_of(event):
    """The bytes POSTed for C{event}: the same for every attempt."""
    payload = {"id": event.id, "event": event.event, "time": timestamp(event.time),
               "job": event_job(event)}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def verdict(status):
    """What an HTTP answer means for a delivery: L{keys.DELIVERY_DONE}, RETRY or GIVEN_UP."""
    if 200 <= status < 300:
        return keys.DELIVERY_DONE
    if status in RETRY_STATUSES or status >= 500:
        return keys.DELIVERY_RETRY
    return keys.DELIVERY_GIVEN_UP


def _timed_out(result, timeout):
    """A cancelled request fails with whatever treq makes of the cancel;
    an attempt that ran out of time is a timeout, whatever that was."""
    raise TimeoutError(timeout, "webhook delivery")


def make_client(reactor, config):
    """treq over the network guard; one connection per delivery, none kept."""
    pool = HTTPConnectionPool(reactor, persistent=False)
    return HTTPClient(guarded_agent(reactor, config, pool, config.webhook_timeout))


class WebhookSender(Periodic):
    """
    Every C{poll} seconds, takes the deliveries that came due (at most
    C{concurrency} in flight) and makes one attempt of each.  A round that
    fails other than by Redis being away is C{fatal}'s (L{common.process.Fatal}).
    """

    what = "the webhook sender"

    def __init__(self, clock, events, client, config, fatal, poll=0.5, concurrency=8,
                 random=_random.random):
        super().__init__(clock, poll, fatal)
        self.events = events
        self.client = client
        self.secret = config.webhook_secret
        self.user_agent = config.crawl_user_agent
        self.timeout = config.webhook_timeout
        self.max_attempts = config.webhook_max_attempts
        self.retry_base = config.webhook_retry_base
        self.retry_max = config.webhook_retry_max
        self.concurrency = concurrency
        self.random = random
        self._flying = set()

    def stopService(self):
        """Stop taking deliveries; fire once the attempts in flight end."""
        super().stopService()
        return DeferredList(list(self._flying))

    async def round(self):
        """Start an attempt of each due delivery there is room for."""
        room = self.concurrency - len(self._flying)
        if room <= 0:
            return
        try:
            taken = await self.events.take_due(self.timeout + HOLD_MARGIN, room)
        except Exception as error:
            if not redis_down(error):
                raise
            log.warn("webhooks wait for Redis: {error}", error=error)
            return
        for event_id, attempt in taken:
            d = Deferred.fromCoroutine(self.attempt(event_id, attempt))
            self._flying.add(d)
            d.addErrback(lambda f: log.failure("webhook delivery failed", f))
            d.addBoth(lambda _, d=d: self._flying.discard(d))

    async def attempt(self, event_id, attempt):
        """One delivery attempt of an event, recorded in its job's ledger."""
        event = await self.events.event(event_id)
        if event is None:
            log.warn("webhook event {id} is no longer in the stream: given up", id=event_id)
            return await self.events.settle(event_id, "", {})
        options = await self.events.webhook(event.job)
        url = (options or {}).get("callback_url")
        entry = {"event_id": event.id, "event": event.event, "attempt": attempt,
                 "at": timestamp(self.clock.seconds()), "status": None, "error": None}
        if not url or not self.secret:
            entry["error"] = "no callback_url" if not url else "WEBHOOK_SECRET is not set"
            outcome = keys.DELIVERY_GIVEN_UP
        else:
            outcome = await self._post(url, event, entry)
        due = None
        if outcome == keys.DELIVERY_RETRY and attempt >= self.max_attempts:
            outcome = keys.DELIVERY_GIVEN_UP
        if outcome == keys.DELIVERY_RETRY:
            due = self.clock.seconds() + backoff(
                attempt, self.retry_base, self.retry_max, random=self.random)
        entry["outcome"] = outcome
        entry["next_attempt_at"] = timestamp(due)
        log.info("webhook {event} of job {job} to {url}: {outcome} (attempt {attempt})",
                 event=event.event, job=event.job, url=url, outcome=outcome, attempt=attempt)
        await self.events.settle(event.id, event.job, entry, due)

    async def _post(self, url, event, entry):
        """POST the event; note the answer or error in C{entry}; the verdict."""
        body = body_of(event)
        headers = {"Content-Type": ["application/json"], "User-Agent": [self.user_agent],
                   "X-Event-Id": [event.id], "X-Event": [event.event],
                   "X-Signature-256": [signature(self.secret, body)]}
        d = Deferred.fromCoroutine(self._exchange(url, body, headers))
        d.addTimeout(self.timeout, self.clock, onTimeoutCancel=_timed_out)
        try:
            entry["status"] = await d
        except BlockedAddress as error:
            entry["error"] = f"refused: {error}"
            return keys.DELIVERY_GIVEN_UP
        except TimeoutError:
            entry["error"] = f"no answer within {self.timeout:g} s"
            return keys.DELIVERY_RETRY
        except Exception as error:      # DNS, refused, reset: the network's answers
            entry["error"] = str(error) or type(error).__name__
            return keys.DELIVERY_RETRY
        return verdict(entry["status"])

    async def _exchange(self, url, body, headers):
        """The answer's status; its body is read and dropped, unkept."""
        response = await self.client.post(url, data=body, headers=headers, allow_redirects=False)
        await treq.collect(response, lambda chunk: None)
        return response.code
