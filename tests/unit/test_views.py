"""Unit tests for api.views: stored records to what the API shows."""

import json

import pytest

from api.views import image_view, job_view, legacy_view, page_view, timestamp
from common.store import COUNTERS

JOB = "0123456789abcdef0123456789abcdef"


def stored_job(**changes):
    """A job hash as Redis returns it: every value a string."""
    job = {
        "id": JOB, "status": "running", "created_at": "1700000000.25",
        "started_at": "1700000001.5", "urls": json.dumps(["http://e.com/"]),
        "options": json.dumps({"max_depth": 1, "scope": "host", "max_pages": 10}),
        "max_depth": "1", "max_pages": "10", "scope": "host",
        "pages_admitted": "5", "pending": "2", "pages_crawled": "2", "pages_failed": "1",
        "pages_skipped": "0", "pages_retried": "4", "images_found": "7",
    }
    job.update(changes)
    return {k: v for k, v in job.items() if v is not None}


# --- timestamp -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("0.001", "1970-01-01T00:00:00.001Z"),
    ("1700000000.25", "2023-11-14T22:13:20.250Z"),
    ("1700000000", "2023-11-14T22:13:20.000Z"),
    (1700000000.5, "2023-11-14T22:13:20.500Z"),
    ("1e9", "2001-09-09T01:46:40.000Z"),
])
def test_timestamp_is_iso_utc_with_milliseconds(value, expected):
    assert timestamp(value) == expected


@pytest.mark.parametrize("value", [None, "", 0])
def test_missing_timestamp_is_none(value):
    assert timestamp(value) is None


# --- job_view -----------------------------------------------------------------------


def test_job_view_shape():
    view = job_view(stored_job())
    assert view == {
        "id": JOB,
        "status": "running",
        "created_at": "2023-11-14T22:13:20.250Z",
        "started_at": "2023-11-14T22:13:21.500Z",
        "finished_at": None,
        "urls": ["http://e.com/"],
        "options": {"max_depth": 1, "scope": "host", "max_pages": 10},
        "stats": {"pages_admitted": 5, "pages_crawled": 2, "pages_failed": 1,
                  "pages_skipped": 0, "pages_retried": 4, "images_found": 7,
                  "pages_pending": 2},
        "links": {"self": f"/jobs/{JOB}", "images": f"/jobs/{JOB}/images",
                  "pages": f"/jobs/{JOB}/pages"},
    }
    json.dumps(view)


def test_job_view_stats_cover_every_counter():
    assert set(job_view(stored_job())["stats"]) == {*COUNTERS, "pages_pending"}


def test_missing_counters_count_as_zero():
    job = {k: v for k, v in stored_job().items() if k not in COUNTERS and k != "pending"}
    stats = job_view(job)["stats"]
    assert stats == {**{name: 0 for name in COUNTERS}, "pages_pending": 0}


@pytest.mark.parametrize("status", ["queued", "running"])
def test_pending_is_shown_while_live(status):
    assert job_view(stored_job(status=status, pending="3"))["stats"]["pages_pending"] == 3


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_pending_is_zero_once_over(status):
    view = job_view(stored_job(status=status, pending="3", finished_at="1700000002"))
    assert view["stats"]["pages_pending"] == 0
    assert view["finished_at"] == "2023-11-14T22:13:22.000Z"


def test_negative_pending_is_shown_as_zero():
    assert job_view(stored_job(pending="-1"))["stats"]["pages_pending"] == 0


def test_queued_job_has_no_start_time():
    view = job_view(stored_job(status="queued", started_at=None))
    assert view["started_at"] is None
    assert view["status"] == "queued"


# --- images and pages ---------------------------------------------------------------


def test_image_view():
    record = {"sources": ["img", "srcset"], "found_on": ["http://e.com/"], "alt": "a cat"}
    assert image_view("http://e.com/cat.png", record) == {
        "url": "http://e.com/cat.png", "sources": ["img", "srcset"],
        "found_on": ["http://e.com/"], "alt": "a cat"}


def test_image_view_without_alt_or_lists():
    assert image_view("http://e.com/x.png", {}) == {
        "url": "http://e.com/x.png", "sources": [], "found_on": [], "alt": None}


def test_page_view_is_the_record_with_its_url():
    record = {"url": "http://e.com/", "depth": 0, "status": 200, "images": 3}
    assert page_view("http://e.com/", record) == record
    assert page_view("http://e.com/a", {"depth": 1})["url"] == "http://e.com/a"


# --- legacy_view ---------------------------------------------------------------------


def test_legacy_view_shape():
    view = legacy_view(stored_job(), ["http://e.com/a.png", "http://e.com/b.png"])
    assert view == {
        "id": JOB,
        "status": "running",
        "all_urls": ["http://e.com/"],
        "crawls_pending": 2,
        "crawls_completed": 3,
        "images": ["http://e.com/a.png", "http://e.com/b.png"],
    }


def test_legacy_view_counts_skipped_pages_as_completed():
    job = stored_job(pages_crawled="1", pages_failed="2", pages_skipped="4")
    assert legacy_view(job, [])["crawls_completed"] == 7


def test_legacy_view_of_a_finished_job():
    view = legacy_view(stored_job(status="completed", pending="0"), [])
    assert view["crawls_pending"] == 0
    assert view["images"] == []
