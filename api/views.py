"""
What the API shows: plain functions from stored records to JSON-ready dicts.
"""

import json
from datetime import datetime, timezone

from common.store import COUNTERS


def timestamp(value):
    """Epoch seconds as stored -> ISO 8601 UTC, or None."""
    if not value:
        return None
    moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_view(job):
    """The job as C{GET /jobs/ID} shows it."""
    path = f"/jobs/{job['id']}"
    stats = {name: int(job.get(name, 0)) for name in COUNTERS}
    stats["pages_pending"] = max(0, int(job.get("pending", 0))) if job["status"] in ("queued", "running") else 0
    return {
        "id": job["id"],
        "status": job["status"],
        "created_at": timestamp(job.get("created_at")),
        "started_at": timestamp(job.get("started_at")),
        "finished_at": timestamp(job.get("finished_at")),
        "urls": json.loads(job["urls"]),
        "options": json.loads(job["options"]),
        "stats": stats,
        "links": {"self": path, "images": f"{path}/images", "pages": f"{path}/pages"},
    }


def image_view(url, record):
    return {
        "url": url,
        "sources": record.get("sources", []),
        "found_on": record.get("found_on", []),
        "alt": record.get("alt"),
    }


def page_view(url, record):
    return {"url": url, **record}


def legacy_view(job, image_urls):
    """The 2015 interface's shape for C{GET /job/ID}."""
    view = job_view(job)
    stats = view["stats"]
    done = stats["pages_crawled"] + stats["pages_failed"] + stats["pages_skipped"]
    return {
        "id": job["id"],
        "status": job["status"],
        "all_urls": view["urls"],
        "crawls_pending": stats["pages_pending"],
        "crawls_completed": done,
        "images": image_urls,
    }
