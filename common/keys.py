"""
Every Redis key the crawler uses, in one place.

The Lua scripts in C{common/lua/} build the same names from the same
prefix (see C{lib.lua}); keep the two in step.

Per job C{ID}:
  - C{job:ID}            hash: status, times, options, counters, C{pending}
  - C{job:ID:frontier}   list of C{"depth url"} admitted but not yet leased
  - C{job:ID:seen}       set of normalised URLs ever admitted (dedup)
  - C{job:ID:attempts}   hash url -> times a worker started it
  - C{job:ID:pushes}     hash url -> times it was pushed to ZeroMQ
  - C{job:ID:page}       hash url -> page record (JSON)
  - C{job:ID:pages}      list of page URLs in the order they finished
  - C{job:ID:image}      hash image url -> {sources, found_on, alt} (JSON)
  - C{job:ID:images}     list of image URLs in the order first found
Global:
  - C{jobs}              zset job id -> created_at (listing)
  - C{active}            list of live job ids, rotated for fair dispatch
  - C{leases}            zset C{"job depth url"} -> lease deadline
  - C{lease-owner}       hash lease -> the worker that started it
  - C{workers}           zset worker id -> heartbeat expiry
  - C{worker-slots}      hash worker id -> tasks it can hold
"""

PREFIX = "ic:"


def job(job_id, part=None):
    if part is None:
        return f"{PREFIX}job:{job_id}"
    return f"{PREFIX}job:{job_id}:{part}"


JOBS = PREFIX + "jobs"
ACTIVE = PREFIX + "active"
LEASES = PREFIX + "leases"
WORKERS = PREFIX + "workers"


def lease_member(job_id, depth, url):
    """A lease's member in C{leases}; C{lib.lua} builds the same string."""
    return f"{job_id} {depth} {url}"
