"""
Waiting for a job to finish: poll C{GET /jobs/ID} with a backing-off
interval (0.5 s growing to 2 s: quick for a small crawl, light on a long
one; the API answers a running job's view from memory anyway) and show
the progress after each answer.

A few failed polls in a row are ridden out (an API restarting under
C{make run} or its container's restart policy comes back within seconds);
a longer outage is an error.
"""

import sys
import time

from client.api import ApiError, Unreachable
from client.output import FINISHED, job_path

FIRST_DELAY = 0.5
LONGEST_DELAY = 2.0
GROWTH = 1.5
# Consecutive polls that may fail (no answer, or a 5xx) before giving up.
TOLERATED_FAILURES = 10


def delays(first=FIRST_DELAY, longest=LONGEST_DELAY, growth=GROWTH):
    """0.5, 0.75, 1.125, 1.6875, 2, 2, ... seconds."""
    delay = first
    while True:
        yield delay
        delay = min(longest, delay * growth)


def wait_job(api, job_id, progress, sleep=time.sleep, err=sys.stderr):
    """
    Poll until the job is finished and return its last view.

    @raise ApiError, Unreachable: when the API refuses (a 4xx: the job is
        gone, the token is wrong) or stays away for L{TOLERATED_FAILURES} polls.
    """
    pause = delays()
    failures = 0
    while True:
        try:
            job = api.json("GET", job_path(job_id))
        except (ApiError, Unreachable) as e:
            failures += 1
            if (isinstance(e, ApiError) and e.status < 500) or failures > TOLERATED_FAILURES:
                raise
            err.write(f"poll failed ({e}); trying again\n")
        else:
            failures = 0
            progress.update(job)
            if job["status"] in FINISHED:
                return job
        sleep(next(pause))
