"""
Every Redis key the crawler uses, in one place.

The Lua scripts in C{common/lua/} build the same names from the same
prefix (see C{lib.lua}); keep the two in step.  A host C{H} is
C{scheme://host[:port]} (L{common.urls.host_key}).

Per job C{ID}:
  - C{job:ID}              hash: status, times, options, limits, counters, C{pending},
                           C{client} (who created it), C{cancel_reason}
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


def lease_member(job_id, depth, url):
    """A lease's member in C{leases}; C{lib.lua} builds the same string."""
    return f"{job_id} {depth} {url}"
