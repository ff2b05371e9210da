"""
Follow the job lifecycle events Redis records: log them, and hand those a
job's webhook wants to the delivery schedule.

The scripts that complete, cancel or expire a job append the event
themselves (L{common.lifecycle}); this service reads the stream in the API
processes' consumer group, so that each event is taken by one of them.
An event read by a process that died before handing it on is claimed
again after L{CLAIM_IDLE} seconds (C{XAUTOCLAIM}): at least once, so a
crash can log an event twice, never lose it.
"""

from twisted.logger import Logger

from api.callbacks import wants
from common.process import Periodic
from common.store import COUNTERS, redis_down

log = Logger()

# Seconds after which an event read but not handed on is taken over.
CLAIM_IDLE = 60.0
BATCH = 100


def stats_of(event):
    return {name: int(event.state.get(name, 0)) for name in COUNTERS}


def log_event(event):
    """The info line of an event ("job completed", with its stats and time)."""
    stats, job = stats_of(event), event.job
    if event.event == "job.completed":
        seconds = event.time - float(event.state.get("created_at") or event.time)
        log.info("job {job} completed in {duration:.2f} s: {pages} pages crawled, "
                 "{failed} failed, {images} images", event=event.event, job=job, stats=stats,
                 duration=seconds, pages=stats["pages_crawled"], failed=stats["pages_failed"],
                 images=stats["images_found"])
    elif event.event == "job.cancelled":
        log.info("job {job} cancelled", event=event.event, job=job, stats=stats)
    elif event.event == "job.failed":
        log.info("job {job} failed: {reason}", event=event.event, job=job, stats=stats,
                 reason=event.state.get("cancel_reason", ""))
    else:
        log.debug("job {job}: {event}", event=event.event, job=job, stats=stats)


class EventsFeed(Periodic):
    """
    Every C{poll} seconds, takes the new events and the stale ones.  A
    round that fails other than by Redis being away is C{fatal}'s
    (L{common.process.Fatal}): the API exits rather than go on deaf.
    """

    what = "the events feed"

    def __init__(self, clock, events, consumer, fatal, poll=0.5, claim_idle=CLAIM_IDLE):
        super().__init__(clock, poll, fatal)
        self.claim_idle = claim_idle
        self.events = events
        self.consumer = consumer
        self._joined = False
        self._cursor = "0-0"

    async def round(self):
        try:
            await self._round()
        except Exception as error:
            if "NOGROUP" in str(error):
                self._joined = False    # Redis lost the group with its data: join again
            elif not redis_down(error):
                raise
            log.warn("the events feed waits for Redis: {error}", error=error)

    async def _round(self):
        if not self._joined:
            await self.events.join()
            self._joined = True
        for event in await self.events.read_new(self.consumer, BATCH):
            await self._hand_on(event)
        stale, self._cursor = await self.events.claim_stale(
            self.consumer, self.claim_idle, self._cursor, BATCH)
        for event in stale:
            if not await self.events.scheduled(event.id):
                await self._hand_on(event)

    async def _hand_on(self, event):
        log_event(event)
        if wants(await self.events.webhook(event.job), event.event):
            await self.events.schedule(event.id)
        else:
            await self.events.ack(event.id)
