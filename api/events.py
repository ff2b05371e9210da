"""
C{GET /jobs/ID/events}: a job's progress and its new images, live, as
server-sent events (C{text/event-stream}).

Redis is polled, not subscribed to: the job's hash and its append-only
image list already say everything, and a poll every
C{EVENTS_POLL_SECONDS} costs two reads per open stream.  Events:

  - C{progress}: the job's C{status} and C{stats} (L{api.views.job_view}),
    sent first and whenever they change;
  - C{images}: C{{"offset": N, "images": [...]}}, up to L{BATCH} images in
    the order they were found, the event's C{id} the offset after the last
    one, so a client that reconnects with C{Last-Event-ID} (or C{?after=})
    gets exactly the images it has not seen;
  - a C{: heartbeat} comment after C{EVENTS_HEARTBEAT_SECONDS} of quiet,
    so proxies and clients can tell a quiet job from a dead connection;
  - C{end}, after a last C{progress}, once the job is completed or
    cancelled and every image has gone out; then the response ends.

Each stream is a push producer of its request: while the client's socket
buffer is full no more images are read, so a slow client of a job of
millions of images holds one batch, not the list.
"""

import json
import re

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from api import views
from api.http import ApiError, JsonResource, query

log = Logger()

# Images per event, and per read from Redis.
BATCH = 500
# What an EventSource waits before reconnecting, in milliseconds.
RETRY_MS = 2000
TERMINAL = ("completed", "cancelled")
STREAM_TYPE = b"text/event-stream; charset=utf-8"
# An offset is an index into a Redis list, which holds at most 2**32 - 1 items.
MAX_OFFSET = 2**32 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


def event(name, data, event_id=None):
    """One event in the wire format; C{data} is one line of compact JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {name}\ndata: {body}\n\n".encode("utf-8", "backslashreplace")


def progress(job):
    """What a C{progress} event says about C{job} (a stored hash)."""
    view = views.job_view(job)
    return {"id": view["id"], "status": view["status"], "stats": view["stats"],
            "finished_at": view["finished_at"]}


def resume_offset(request):
    """
    The image offset to start after: C{Last-Event-ID} (what a reconnecting
    client sends) over C{?after=}, else 0.

    @raise ApiError: 400 for anything but a decimal offset.
    """
    raw = request.getHeader(b"last-event-id")
    name = "Last-Event-ID"
    if raw is None:
        raw, name = query(request).get("after", ["0"])[-1], "after"
    else:
        raw = raw.decode("latin-1")
    raw = raw.strip()
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_OFFSET:
        raise ApiError(400, "bad_cursor", f"{name} must be an image offset from 0 to {MAX_OFFSET}")
    return int(raw)


class StreamSlots:
    """The cap on open streams of one API process (C{EVENTS_MAX_STREAMS})."""

    def __init__(self, limit):
        self.limit = limit
        self.open = 0

    def take(self):
        if self.open >= self.limit:
            raise ApiError(503, "too_many_streams",
                           f"{self.limit} event streams are open; try again shortly",
                           {b"retry-after": b"5"})
        self.open += 1

    def give_back(self):
        self.open -= 1


class Events(JsonResource):
    """The resource: checks the token, the job and the cap, then hands over to a L{JobStream}."""

    def __init__(self, api, job_id):
        super().__init__()
        self.api = api
        self.tokens = api.tokens
        self.job_id = job_id

    async def GET(self, request):
        gone = []       # a client that left while Redis answered gets no stream
        request.notifyFinish().addBoth(gone.append)
        await self.api.job_or_404(self.job_id)
        after = resume_offset(request)
        if gone:
            return None
        self.api.streams.take()
        request.setHeader(b"content-type", STREAM_TYPE)
        request.setHeader(b"cache-control", b"no-store")
        # nginx and others buffer responses unless told not to.
        request.setHeader(b"x-accel-buffering", b"no")
        JobStream(request, self.api.store, self.job_id, after,
                  self.api.config, self.api.streams).start()
        return None


@implementer(IPushProducer)
class JobStream:
    """One open stream: polls the store on its clock, writes events, ends with the job."""

    def __init__(self, request, store, job_id, after, config, slots):
        self.request = request
        self.store = store
        self.job_id = job_id
        self.offset = after
        self.slots = slots
        self.heartbeat_seconds = config.events_heartbeat_seconds
        self.poll_seconds = config.events_poll_seconds
        self.clock = store.clock
        self.last = None            # the last progress sent
        self.paused = False
        self.done = False
        self.quiet_since = self.clock.seconds()
        self._poll = LoopingCall(self._tick)
        self._poll.clock = self.clock

    def start(self):
        self.request.notifyFinish().addBoth(self._gone)
        self.request.registerProducer(self, True)
        self._write(f"retry: {RETRY_MS}\n\n".encode())
        self._poll.start(self.poll_seconds, now=True).addErrback(self._failed)

    async def _round(self):
        job = await self.store.job(self.job_id)
        if self.done:
            return
        if job is None:     # expired (JOB_TTL_SECONDS) or never there
            self._end({"status": None})
            return
        drained = await self._send_images()
        if self.done:
            return
        now = progress(job)
        if now != self.last:
            self.last = now
            self._write(event("progress", now))
        if job["status"] in TERMINAL and drained:
            # The step that completes a job records its last images with
            # it, so after reading the job, the list read is the whole.
            self._end({"status": job["status"]})
        elif self.clock.seconds() - self.quiet_since >= self.heartbeat_seconds:
            self._write(b": heartbeat\n\n")

    async def _send_images(self):
        """
        Every image not sent yet, a batch at a time for as long as the
        client keeps up (a full socket buffer pauses us); fires with
        whether all of them went.
        """
        while not self.paused:
            images = await self.store.images(self.job_id, self.offset, BATCH)
            if self.done:
                return False
            if images:
                start, self.offset = self.offset, self.offset + len(images)
                self._write(event("images", {"offset": start, "images": [
                    views.image_view(url, record) for url, record in images]}, self.offset))
            if len(images) < BATCH:
                return True
        return False

    def _tick(self):
        return Deferred.fromCoroutine(self._round()).addErrback(self._skipped)

    def _skipped(self, failure):
        """Redis away (a 503 from the timed store): this round is skipped, the next may do."""
        if failure.check(ApiError):
            return None
        return failure

    def _write(self, data):
        self.quiet_since = self.clock.seconds()
        self.request.write(data)

    def _end(self, data):
        self._write(event("end", data))
        self._stop()
        self.request.unregisterProducer()
        self.request.finish()

    def _failed(self, failure):
        log.failure("event stream of job {job} failed", failure, job=self.job_id)
        if not self.done:
            self._stop()
            self.request.unregisterProducer()
            self.request.loseConnection()

    def _gone(self, _):
        """The response ended, or the client went away: stop polling."""
        self._stop()

    def _stop(self):
        if self.done:
            return
        self.done = True
        self.slots.give_back()
        if self._poll.running:
            self._poll.stop()

    # IPushProducer: the request's transport says when its buffer is full.

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False

    def stopProducing(self):
        self._stop()
