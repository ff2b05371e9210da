"""
Who is in the pool: the API reads the live workers (their heartbeats in
Redis) every round and logs each one that joined or left, so the log of
one process tells the story of the whole pool.

A worker "left" when its heartbeat ran out or it said goodbye (a drained
worker announces an expiry in the past); the first round after the API
starts reports every live worker as joined.
"""

from twisted.logger import Logger

log = Logger()


def changes(known, live):
    """(joined, left), each sorted, between two sets of worker ids."""
    return sorted(live - known), sorted(known - live)


class Roster:
    def __init__(self):
        self._known = set()

    def update(self, live):
        """Log the workers that joined or left since the last C{update}."""
        live = set(live)
        joined, left = changes(self._known, live)
        self._known = live
        for worker in joined:
            log.info("worker {worker} joined ({workers} live)",
                     event="worker.joined", worker=worker, workers=len(live))
        for worker in left:
            log.info("worker {worker} left ({workers} live)",
                     event="worker.left", worker=worker, workers=len(live))
        return joined, left
