"""
When to try a page again: which answers are worth a retry, and how long to wait.

Pure functions of their arguments, so that the crawler's scheduling can be
tested without a clock, and the randomness without luck.
"""

import random as _random

# Answers that say "not now" rather than "not ever": the request timed out,
# the server is overloaded or rate-limiting us, or a proxy in front of it
# (522/524 are Cloudflare's origin timeouts) could not reach it.
RETRY_STATUSES = frozenset((408, 429, 500, 502, 503, 504, 522, 524))


def backoff(attempt, base, cap, retry_after=None, random=_random.random):
    """
    Seconds to wait before retry number C{attempt} (counting from 1).

    The delay doubles with each attempt up to C{cap}, and only its upper
    half is randomised ("equal jitter"): a pool of workers that all saw the
    same flaky host fail at the same moment must not come back in lockstep,
    yet none may come back sooner than half the backoff, which full jitter
    would allow.  A server's own C{Retry-After} (already capped by the
    fetcher) is a floor: retrying before it is only another refusal.

    @param random: a callable returning a float in [0, 1), for tests.
    """
    delay = min(cap, base * 2 ** (attempt - 1))
    delay = delay / 2 + random() * delay / 2
    return delay if retry_after is None else max(retry_after, delay)
