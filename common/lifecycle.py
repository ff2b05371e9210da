"""
Job lifecycle events and their webhook deliveries, in Redis.

The scripts that complete, cancel or expire a job append an event to the
C{job-events} stream themselves (C{emit_event} in C{lua/jobs.lua}); this
module reads them back through a consumer group, so that several API
processes share the work and an entry a dead process had read is claimed
again (C{XAUTOCLAIM}) rather than lost.  An event with a webhook to send
stays pending in the group until its delivery is settled: delivered, or
given up.  Its attempts are scheduled in C{webhook-due} and recorded in
the job's ledger (C{job:ID:callbacks}), so that a restarted API resumes
them.  Every key is named in L{common.keys}.
"""

import json
from dataclasses import dataclass

import txredisapi

from common import keys, scripts


@dataclass(frozen=True)
class Event:
    """
    One stream entry.  C{id} (the entry's id) is the event id receivers
    dedupe by: the same for every delivery of the event.  C{state} is the
    job as it was when the event happened: status, times, counters, as the
    job hash stores them (strings).
    """

    id: str
    event: str
    job: str
    time: float
    state: dict


def _event(entry):
    """C{[id, [field, value, ...]]} -> L{Event}; None for an entry that is gone."""
    if not entry or not entry[1]:
        return None
    entry_id, flat = entry
    fields = dict(zip(flat[::2], flat[1::2]))
    return Event(id=entry_id, event=fields["event"], job=fields["job"],
                 time=float(fields["time"]), state=json.loads(fields["state"]))


class EventStore:
    def __init__(self, redis, clock, job_ttl=0):
        """
        @param job_ttl: seconds a job's ledger is kept after its last
            attempt, as its results are (0: forever).
        """
        self.redis = redis
        self.clock = clock
        self.job_ttl = job_ttl

    async def join(self):
        """Create the consumer group (and the stream) unless they exist."""
        try:
            await self.redis.execute_command(
                "XGROUP", "CREATE", keys.JOB_EVENTS, keys.EVENTS_GROUP, "0", "MKSTREAM")
        except txredisapi.ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):
                raise

    async def read_new(self, consumer, count):
        """Up to C{count} events no consumer of the group has read yet."""
        reply = await self.redis.execute_command(
            "XREADGROUP", "GROUP", keys.EVENTS_GROUP, consumer, "COUNT", count,
            "STREAMS", keys.JOB_EVENTS, ">")
        if not reply:
            return []
        return [e for e in map(_event, reply[0][1]) if e]

    async def claim_stale(self, consumer, idle, cursor, count):
        """
        Claim for C{consumer} up to C{count} events read at least C{idle}
        seconds ago and not settled, from C{cursor} on (C{"0-0"}: the
        start).  Fires with C{(events, next_cursor)}; entries trimmed
        from the stream meanwhile are dropped from the group by Redis.
        """
        reply = await self.redis.execute_command(
            "XAUTOCLAIM", keys.JOB_EVENTS, keys.EVENTS_GROUP, consumer,
            int(idle * 1000), cursor, "COUNT", count)
        return [e for e in map(_event, reply[1]) if e], reply[0]

    async def event(self, event_id):
        """The event with this id, or None once the stream has dropped it."""
        reply = await self.redis.execute_command("XRANGE", keys.JOB_EVENTS, event_id, event_id)
        return _event(reply[0]) if reply else None

    def ack(self, event_id):
        """Done with an event that has no webhook to send."""
        return self.redis.execute_command("XACK", keys.JOB_EVENTS, keys.EVENTS_GROUP, event_id)

    def schedule(self, event_id):
        """
        Make an event's first delivery due now, unless it is scheduled
        already (an event claimed again after its reader died).
        """
        return self.redis.execute_command(
            "ZADD", keys.WEBHOOK_DUE, "NX", repr(self.clock.seconds()), event_id)

    async def scheduled(self, event_id):
        """Whether the event has a delivery scheduled or in flight."""
        return await self.redis.zscore(keys.WEBHOOK_DUE, event_id) is not None

    async def take_due(self, hold, limit):
        """
        Take up to C{limit} due deliveries, each held for C{hold} seconds
        (see C{lua/webhook_take.lua}).  Fires with C{[(event_id, attempt)]}.
        """
        reply = await scripts.WEBHOOK_TAKE(self.redis, repr(self.clock.seconds()), hold, limit)
        return [(reply[i], int(reply[i + 1])) for i in range(0, len(reply), 2)]

    def settle(self, event_id, job_id, entry, due=None):
        """
        Record a delivery attempt (C{entry}, a dict) in C{job_id}'s ledger;
        with C{due}, try again then, else the event is done with and acked.
        C{job_id} "" records nothing (the event itself is gone).
        """
        return scripts.WEBHOOK_SETTLE(
            self.redis, event_id, job_id, json.dumps(entry, separators=(",", ":")),
            "0" if due is not None else "1", repr(due or 0.0), self.job_ttl,
            keys.LEDGER_MAX, keys.EVENTS_GROUP)

    async def ledger(self, job_id):
        """The job's delivery attempts, oldest first."""
        entries = await self.redis.lrange(keys.job(job_id, "callbacks"), 0, -1)
        return [json.loads(e) for e in entries]

    async def webhook(self, job_id):
        """The job's options (where its webhook is), or None once it is gone."""
        options = await self.redis.hget(keys.job(job_id), "options")
        return json.loads(options) if options else None
