"""
Prometheus metrics for the API process (C{GET /metrics}).

Counters move where things happen; the gauges are refreshed by the
dispatcher's periodic round, so a scrape never waits on Redis.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST.encode()

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_created = Counter("imagecrawler_jobs_created", "Jobs created", registry=r)
        self.tasks_pushed = Counter("imagecrawler_tasks_pushed", "Tasks pushed to workers", registry=r)
        self.tasks_requeued = Counter(
            "imagecrawler_tasks_requeued", "Tasks requeued after their lease ran out", registry=r)
        self.tasks_given_up = Counter(
            "imagecrawler_tasks_given_up", "Tasks failed after their attempts ran out", registry=r)
        self.pages_finished = Counter(
            "imagecrawler_pages_finished", "Pages finished, as reported by workers", registry=r)
        self.leased = Gauge("imagecrawler_tasks_leased", "Tasks currently leased", registry=r)
        self.workers = Gauge("imagecrawler_workers_live", "Workers with a fresh heartbeat", registry=r)

    def render(self):
        return generate_latest(self.registry)
