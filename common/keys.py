"""
Every Redis key the crawler uses, in one place.

The Lua scripts in C{common/lua/} build the same names from the same
prefix (see C{lib.lua}); keep the two in step.  A host C{H} is
C{scheme://host[:port]} (L{common.urls.host_key}).

Per job C{ID}:
  - C{job:ID}              hash: status, times, options, limits (C{max_depth} "": none),
                           counters, C{pending},
                           C{client} (who created it), C{cancel_reason},
                           C{progress_every} (pages between C{job.progress} events)
  - C{job:ID:frontier:H}   list of C{"depth url"} admitted on host H, not yet leased
  - C{job:ID:hosts}        set of the hosts where the job has unsettled pages
  - C{job:ID:seen}         set of normalised URLs ever admitted (dedup)
  - C{job:ID:attempts}     hash url -> times a worker started it
  - C{job:ID:pushes}       hash url -> times it was pushed and not handed back
  - C{job:ID:tries}        hash url -> JSON list of its earlier tries' outcomes
  - C{job:ID:page}         hash url -> page record (JSON)
  - C{job:ID:pages}        list of page URLs in the order they finished
  - C{job:ID:image}        hash image url -> {sources, found_on, alt} (JSON)
  - C{job:ID:images}       list of image URLs in the order first found
  - C{job:ID:callbacks}    list of the job's webhook delivery attempts (JSON), the
                           ledger of L{api.webhooks}; the last L{LEDGER_MAX} kept
Per host C{H}, shared by every job and worker (pool-wide politeness):
  - C{host:H}              hash: leased, limit, delay, crawl_delay, lease_next,
                           start_next, robots, robots_until, robots_answer,
                           robots_tries, duty (see C{lua/hosts.lua})
  - C{host:H:jobs}         list of the jobs with queued pages on H, rotated
  - C{host:H:load}         hash job -> its unsettled pages on H (the limits)
  - C{host:H:robots}       string: the robots.txt body the pool obeys
Per client C{C} (admission control, L{api.admission}): C{token:<sha256 prefix>}
or C{addr:<address>}, never a token itself:
  - C{client:C}            hash: the client's token buckets, C{jobs}/C{jobs_at} (job
                           creations) and C{pages}/C{pages_at} (page budget); it
                           expires when both would be full again
  - C{client:C:jobs}       set of the client's live (queued or running) jobs
Global:
  - C{jobs}                zset job id -> created_at (listing)
  - C{ready}               zset host -> when it may next be leased
  - C{delayed}             zset C{"job depth url"} -> when its retry is due
  - C{leases}              zset C{"job depth url"} -> lease deadline
  - C{lease-token}         hash lease -> the push it belongs to
  - C{lease-seq}           counter numbering pushes (lease tokens)
  - C{lease-owner}         hash lease -> the worker that started it
  - C{workers}             zset worker id -> heartbeat expiry
  - C{worker-slots}        hash worker id -> tasks it can hold
  - C{admission}           hash: C{jobs}/C{jobs_at}, the bucket of every client's job creations
  - C{start-by}            zset job id -> when it is cancelled if it has not started
  - C{job-events}          stream of job lifecycle events (L{EVENTS}), appended by the
                           script that makes the change (C{emit_event} in
                           C{lua/jobs.lua}): fields C{event}, C{job}, C{time}, C{state}
                           (JSON: status, times, counters); read by the consumer group
                           L{EVENTS_GROUP}, an entry acked once its webhook is settled
  - C{webhook-due}         zset event id -> when its next delivery attempt is due; an
                           attempt in flight holds it until then (its lease)
  - C{webhook-tries}       hash event id -> delivery attempts made
"""

PREFIX = "ic:"

# Seconds a paced host's next fetch start waits beyond its delay: the
# reservation is made a Redis round trip before the request reaches the
# site, and round trips vary by milliseconds.  The scripts get it as the
# Lua constant START_MARGIN (common/scripts.py).
START_MARGIN = 0.025


def job(job_id, part=None):
    if part is None:
        return f"{PREFIX}job:{job_id}"
    return f"{PREFIX}job:{job_id}:{part}"


def client(client_id, part=None):
    if part is None:
        return f"{PREFIX}client:{client_id}"
    return f"{PREFIX}client:{client_id}:{part}"


def host(host_key, part=None):
    if part is None:
        return f"{PREFIX}host:{host_key}"
    return f"{PREFIX}host:{host_key}:{part}"


JOBS = PREFIX + "jobs"
READY = PREFIX + "ready"
DELAYED = PREFIX + "delayed"
LEASES = PREFIX + "leases"
WORKERS = PREFIX + "workers"
ADMISSION = PREFIX + "admission"
START_BY = PREFIX + "start-by"
JOB_EVENTS = PREFIX + "job-events"
WEBHOOK_DUE = PREFIX + "webhook-due"
WEBHOOK_TRIES = PREFIX + "webhook-tries"

# The lifecycle events a job goes through (C{event} in C{job-events}).
# C{job.failed}: the job ended without running, expired in the queue
# (status C{cancelled}, C{cancel_reason} says why); C{job.progress}: every
# C{progress_every} settled pages (a C{job:ID} field, set when the job's
# C{callback_events} list C{progress}).
EVENTS = ("job.completed", "job.cancelled", "job.failed", "job.progress")
# The consumer group of the API processes on C{job-events}.
EVENTS_GROUP = "api"
# About how many entries C{job-events} keeps (C{XADD MAXLEN ~}); the Lua
# constant EVENTS_MAXLEN (common/scripts.py).
EVENTS_MAXLEN = 10000
# Delivery attempts a job's ledger keeps.
LEDGER_MAX = 1000
# What a delivery came to (the ledger's C{outcome}): tried again later, or final.
DELIVERY_RETRY, DELIVERY_DONE, DELIVERY_GIVEN_UP = "retry", "delivered", "given_up"


def depth_limit(max_depth):
    """The job hash's C{max_depth} field: the number, or "" for no limit
    (what C{lua/finish.lua} reads as "admit links at any depth")."""
    return "" if max_depth is None else max_depth


def lease_member(job_id, depth, url):
    """A lease's member in C{leases}; C{lib.lua} builds the same string."""
    return f"{job_id} {depth} {url}"
