"""
One contract suite for the job store, run against the real
L{common.store.JobStore} twice: over L{tests.fakes.FakeRedis} (as the unit
tests' L{tests.fakes.FakeStore}) and over txredisapi on a redis-server of
its own (the C{store} fixture of C{tests/unit/conftest.py}).  Both run the
same Lua scripts, so what the suite checks is the scripts' contract, the
adapter (txredisapi's API and reply shapes over fakeredis) and fakeredis
itself; a few tests at the end check the connection's replies directly.
Pool-wide politeness (host limits, delays, robots.txt, retries, tokens)
is in test_store_scheduling.py.
"""

import inspect
import json

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from txredisapi import ResponseError, ScriptDoesNotExist

from common import keys, scripts
from common.messages import Task
from common.store import JobStore, StartResult
from tests.fakes import FakeRedis, FakeStore
from tests.unit.conftest import LEASE, OPTIONS, T0, result_of, untokened, urls

PUBLIC = ("create", "job", "recent_jobs", "images", "pages", "cancel", "lease", "start",
          "reserve", "release", "retry", "store_robots", "robots_rules", "finish", "reap",
          "heartbeat", "backlog", "ping", "admit", "live_workers", "pace")


# --- the fake's recording keeps the store's shape -----------------------------------


@pytest.mark.parametrize("name", PUBLIC)
def test_fake_has_the_same_method_shape(name):
    real, fake = getattr(JobStore, name), getattr(FakeStore, name)
    assert inspect.signature(real) == inspect.signature(fake)
    assert inspect.iscoroutinefunction(real) == inspect.iscoroutinefunction(fake)


def test_fake_has_every_public_method_of_the_store():
    public = {n for n, _ in inspect.getmembers(JobStore, inspect.isfunction) if not n.startswith("_")}
    assert public == set(PUBLIC)


# --- create, job, recent_jobs -----------------------------------------------------------


def test_create_records_a_queued_job(store):
    job_id = store.new_job(["http://a.example/", "http://a.example/b"], max_pages=10)
    job = store.job(job_id)
    assert job["id"] == job_id
    assert job["status"] == "queued"
    assert float(job["created_at"]) == T0
    assert "started_at" not in job and "finished_at" not in job
    assert json.loads(job["urls"]) == ["http://a.example/", "http://a.example/b"]
    assert json.loads(job["options"]) == {**OPTIONS, "max_pages": 10}
    assert (job["max_depth"], job["max_pages"], job["scope"]) == ("1", "10", "host")
    assert (job["host_concurrency"], float(job["host_delay"]), job["robots"]) == ("1000", 0.0, "0")
    assert store.counters(job_id) == {
        "pages_admitted": 2, "pending": 2, "pages_crawled": 0, "pages_failed": 0,
        "pages_skipped": 0, "pages_retried": 0, "images_found": 0}
    assert all(isinstance(v, str) for v in job.values())


def test_create_records_the_host_limits_and_whether_robots_txt_is_obeyed(store):
    job_id = store.new_job(urls(1), robots=True, host_concurrency=2, host_delay=1.5)
    job = store.job(job_id)
    assert json.loads(job["options"]) == {**OPTIONS, "host_concurrency": 2, "host_delay": 1.5}
    assert (job["host_concurrency"], float(job["host_delay"]), job["robots"]) == ("2", 1.5, "1")


def test_job_ids_are_fresh_hex(store):
    a, b = store.new_job(urls(1)), store.new_job(urls(1))
    assert a != b
    assert len(a) == 32 and int(a, 16) >= 0


def test_unknown_job_is_none(store):
    assert store.job("f" * 32) is None


def test_malformed_job_id_is_refused(store):
    with pytest.raises(ValueError):
        store.job("../etc")


def test_recent_jobs_newest_first(store):
    ids = []
    for _ in range(3):
        ids.append(store.new_job(urls(1)))
        store.advance(1)
    assert [j["id"] for j in store.recent_jobs(0, 10)] == ids[::-1]
    assert [j["id"] for j in store.recent_jobs(1, 1)] == [ids[1]]
    assert store.recent_jobs(3, 10) == []


# --- lease, start, finish -----------------------------------------------------------


def test_nothing_is_leased_without_live_workers(store):
    store.new_job(urls(2))
    assert store.lease(LEASE, 10) == ([], None)


def test_lease_hands_out_start_urls_and_marks_the_job_running(store):
    job_id = store.new_job(urls(3))
    store.heartbeat("w1", 10, 10)
    store.advance(5)
    tasks, wake = store.lease(LEASE, 10)
    assert untokened(tasks) == [Task(job_id, url, 0, 1) for url in urls(3)]
    assert len({t.lease for t in tasks}) == 3 and all(t.lease > 0 for t in tasks)
    assert wake is None
    job = store.job(job_id)
    assert job["status"] == "running"
    assert float(job["started_at"]) == T0 + 5
    assert store.backlog() == {"leased": 3, "workers": 1}


def test_lease_takes_at_most_want(store):
    store.new_job(urls(5))
    store.heartbeat("w1", 10, 10)
    assert len(store.tasks(2)) == 2
    assert len(store.tasks(10)) == 3
    assert store.tasks(10) == []


def test_start_counts_attempts_and_gives_settings_when_asked(store):
    job_id = store.new_job(["http://a.example/"], scope="domain", max_depth=2)
    store.heartbeat("w1", 10, 10)
    [task] = store.tasks(10)
    first = store.start(task, LEASE, True, "w1", True)
    assert first == StartResult(go=True, attempt=1, settings={
        "urls": ["http://a.example/"], **OPTIONS, "scope": "domain", "max_depth": 2})
    second = store.start(task, LEASE, False, "w1", True)
    assert second == StartResult(go=True, attempt=2, settings=None)
    assert store.status(job_id) == "running"


def test_start_of_an_unknown_job_drops(store):
    result = store.start(Task("e" * 32, "http://a.example/", 0), LEASE, True, "w1", True)
    assert result == StartResult(go=False, reason="unknown job")


def test_start_renews_the_lease_from_now(store):
    store.new_job(urls(1))
    store.heartbeat("w1", 1000, 10)
    [task] = store.tasks(10)
    store.advance(50)
    store.start(task, LEASE, False, "w1", True)
    store.advance(LEASE - 1)          # 109 s after the lease, 59 after the start
    assert store.reap(3, 11) == (0, 0)
    store.advance(1)
    assert store.reap(3, 11) == (1, 0)


def test_a_finished_page_records_counters_and_its_page(store):
    job_id = store.new_job(["http://a.example/"])
    store.heartbeat("w1", 10, 10)
    [task] = store.tasks(10)
    page = {"url": task.url, "depth": 0, "status": 200, "images": 1, "worker": "w1"}
    admitted = store.crawl(task, links=["http://a.example/x", "http://a.example/y"],
                           images=[["http://a.example/i.png", ["img"]]], page=page)
    assert admitted == 2
    assert store.counters(job_id) == {
        "pages_admitted": 3, "pending": 2, "pages_crawled": 1, "pages_failed": 0,
        "pages_skipped": 0, "pages_retried": 0, "images_found": 1}
    assert store.pages(job_id, 0, 10) == [("http://a.example/", page)]
    assert store.images(job_id, 0, 10) == [
        ("http://a.example/i.png", {"sources": ["img"], "found_on": ["http://a.example/"]})]
    assert store.backlog()["leased"] == 0
    assert untokened(store.tasks(10)) == [Task(job_id, "http://a.example/x", 1, 1),
                                          Task(job_id, "http://a.example/y", 1, 1)]


@pytest.mark.parametrize("outcome", ["crawled", "failed", "skipped"])
def test_each_outcome_has_its_counter(store, outcome):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 10, 10)
    task = store.tasks(10)[0]
    store.crawl(task, outcome=outcome)
    counters = store.counters(job_id)
    assert counters[f"pages_{outcome}"] == 1
    assert sum(counters[f"pages_{o}"] for o in ("crawled", "failed", "skipped")) == 1


def test_job_completes_exactly_when_its_frontier_empties(store):
    job_id = store.new_job(["http://a.example/"], max_depth=2)
    store.heartbeat("w1", 10, 10)
    [root] = store.tasks(10)
    assert store.crawl(root, links=["http://a.example/1", "http://a.example/2"]) == 2
    first, second = store.tasks(10)
    assert store.crawl(first, links=["http://a.example/1/a"]) == 1
    assert store.status(job_id) == "running"
    assert store.crawl(second) == 0
    assert store.status(job_id) == "running"      # 1/a is still on the frontier
    [last] = store.tasks(10)
    assert last.depth == 2
    store.advance(3)
    assert store.crawl(last, links=["http://a.example/deeper"]) == 0   # depth 2 == max_depth
    job = store.job(job_id)
    assert job["status"] == "completed"
    assert float(job["finished_at"]) == T0 + 3
    assert store.counters(job_id)["pending"] == 0
    assert store.counters(job_id)["pages_crawled"] == 4
    assert store.tasks(10) == []


def test_links_are_admitted_once(store):
    job_id = store.new_job(["http://a.example/", "http://a.example/s"])
    store.heartbeat("w1", 10, 10)
    root, other = store.tasks(10)
    links = ["http://a.example/x", "http://a.example/x", "http://a.example/",
             "http://a.example/s", "http://a.example/y"]
    assert store.crawl(root, links=links) == 2
    assert store.crawl(other, links=["http://a.example/y", "http://a.example/x",
                                     "http://a.example/z"]) == 1
    assert store.counters(job_id)["pages_admitted"] == 5
    assert [t.url for t in store.tasks(10)] == [
        "http://a.example/x", "http://a.example/y", "http://a.example/z"]


def test_max_depth_zero_admits_no_links(store):
    job_id = store.new_job(["http://a.example/"], max_depth=0)
    store.heartbeat("w1", 10, 10)
    [task] = store.tasks(10)
    assert store.crawl(task, links=["http://a.example/x"]) == 0
    assert store.status(job_id) == "completed"
    assert store.counters(job_id)["pages_admitted"] == 1


def test_no_max_depth_admits_links_at_any_depth(store):
    job_id = store.new_job(["http://a.example/"], max_depth=None)
    assert store.job(job_id)["max_depth"] == ""
    assert json.loads(store.job(job_id)["options"])["max_depth"] is None
    store.heartbeat("w1", 10, 10)
    for depth in range(25):
        [task] = store.tasks(10)
        assert task.depth == depth
        assert store.start(task, LEASE, True, "w1", True).settings["max_depth"] is None
        assert store.crawl(task, links=[f"http://a.example/{depth + 1}"]) == 1
    assert store.counters(job_id)["pages_admitted"] == 26


def test_max_pages_caps_admission(store):
    job_id = store.new_job(["http://a.example/"], max_pages=3)
    store.heartbeat("w1", 10, 10)
    [task] = store.tasks(10)
    assert store.crawl(task, links=urls(5, "a.example")) == 2
    assert store.counters(job_id)["pages_admitted"] == 3
    assert [t.url for t in store.tasks(10)] == urls(2, "a.example")


def test_max_pages_reached_by_start_urls_admits_nothing(store):
    job_id = store.new_job(urls(2), max_pages=2)
    store.heartbeat("w1", 10, 10)
    task = store.tasks(10)[0]
    assert store.crawl(task, links=["http://a.example/new"]) == 0
    assert store.counters(job_id)["pages_admitted"] == 2


def test_redirect_target_counts_as_seen(store):
    job_id = store.new_job(["http://a.example/", "http://a.example/other"])
    store.heartbeat("w1", 10, 10)
    root, other = store.tasks(10)
    store.crawl(root, found_on="http://a.example/home")
    assert store.crawl(other, links=["http://a.example/home", "http://a.example/new"]) == 1
    assert [t.url for t in store.tasks(10)] == ["http://a.example/new"]
    assert store.images(job_id, 0, 10) == []


def test_redirected_page_does_not_admit_its_own_final_url(store):
    # a nav link to the current page, reached through a redirect
    job_id = store.new_job(["http://a.example/"])
    store.heartbeat("w1", 10, 10)
    [root] = store.tasks(10)
    links = ["http://a.example/home", "http://a.example/about"]
    assert store.crawl(root, links=links, found_on="http://a.example/home") == 1
    assert [t.url for t in store.tasks(10)] == ["http://a.example/about"]
    assert store.counters(job_id)["pages_admitted"] == 2


# --- idempotence ------------------------------------------------------------------


def test_finishing_twice_counts_once(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 10, 10)
    task = store.tasks(10)[0]
    images = [["http://a.example/i.png", ["img"]]]
    assert store.crawl(task, links=["http://a.example/x"], images=images) == 1
    before = store.counters(job_id)
    again = store.finish(task, "failed", {"url": task.url, "status": 500},
                         [["http://a.example/other.png", ["img"]]],
                         ["http://a.example/z"], task.url, 100)
    assert again == -2
    assert store.counters(job_id) == before
    assert store.pages(job_id, 0, 10) == [(task.url, {"url": task.url, "depth": 0, "status": 200})]
    assert [url for url, _ in store.images(job_id, 0, 10)] == ["http://a.example/i.png"]


def test_start_after_finish_drops_and_frees_the_lease(store):
    store.new_job(urls(2))
    store.heartbeat("w1", 1000, 10)
    [task] = store.tasks(1)
    store.accept(task)
    store.advance(LEASE)
    assert store.reap(3, 11) == (1, 0)
    again, _ = store.tasks(10)        # a second delivery of the same page...
    assert store.done(task) == 0      # ...whose first one finishes late
    assert store.start(again, LEASE, False, "w1", True) == StartResult(go=False, reason="already done")
    assert store.backlog()["leased"] == 1


def test_images_merge_across_pages(store):
    job_id = store.new_job(urls(4))
    store.heartbeat("w1", 10, 10)
    a, b, c, d = store.tasks(10)
    img = "http://a.example/cat.png"
    store.crawl(a, images=[[img, ["img"]]], max_found_on=2)
    store.crawl(b, images=[[img, ["srcset", "img"], "a cat"]], max_found_on=2)
    store.crawl(c, images=[[img, ["og:image"], "a dog"], ["http://a.example/2.png", ["img"]]],
                max_found_on=2)
    store.crawl(d, images=[[img, ["img"]]], max_found_on=2)
    records = dict(store.images(job_id, 0, 10))
    assert records[img] == {"sources": ["img", "srcset", "og:image"],
                            "found_on": [a.url, b.url], "alt": "a cat"}
    assert store.counters(job_id)["images_found"] == 2
    assert [url for url, _ in store.images(job_id, 0, 10)] == [img, "http://a.example/2.png"]


def test_image_found_on_the_same_page_url_twice_is_listed_once(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 10, 10)
    a, b = store.tasks(10)
    img = "http://a.example/x.png"
    store.crawl(a, images=[[img, ["img"]]], found_on="http://a.example/final")
    store.crawl(b, images=[[img, ["img"]]], found_on="http://a.example/final")
    assert dict(store.images(job_id, 0, 10))[img]["found_on"] == ["http://a.example/final"]


def test_alt_is_filled_in_when_first_seen_without(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 10, 10)
    a, b = store.tasks(10)
    img = "http://a.example/x.png"
    store.crawl(a, images=[[img, ["img"]]])
    store.crawl(b, images=[[img, ["img"], "late alt"]])
    assert dict(store.images(job_id, 0, 10))[img]["alt"] == "late alt"


def test_images_and_pages_are_paged_in_order(store):
    job_id = store.new_job(urls(3))
    store.heartbeat("w1", 10, 10)
    for i, task in enumerate(store.tasks(10)):
        store.crawl(task, images=[[f"http://a.example/{i}.png", ["img"]]])
    assert [u for u, _ in store.pages(job_id, 0, 2)] == urls(2)
    assert [u for u, _ in store.pages(job_id, 2, 2)] == urls(3)[2:]
    assert [u for u, _ in store.images(job_id, 1, 5)] == [
        "http://a.example/1.png", "http://a.example/2.png"]
    assert store.images(job_id, 3, 5) == []
    assert store.images("d" * 32, 0, 5) == []


# --- cancel ---------------------------------------------------------------------------


def test_cancel_is_idempotent_and_drops_the_frontier(store):
    job_id = store.new_job(urls(4))
    store.heartbeat("w1", 10, 10)
    leased = store.tasks(2)
    store.advance(2)
    assert store.cancel(job_id) == "cancelled"
    job = store.job(job_id)
    assert job["status"] == "cancelled"
    assert float(job["finished_at"]) == T0 + 2
    assert store.cancel(job_id) == "cancelled"
    assert float(store.job(job_id)["finished_at"]) == T0 + 2
    assert store.tasks(10) == []
    assert store.start(leased[0], LEASE, True, "w1", True) == StartResult(go=False, reason="cancelled")
    assert store.finish(leased[1], "crawled", {"url": leased[1].url}, [["http://a.example/i", ["img"]]],
                        ["http://a.example/new"], leased[1].url, 100) == -1
    assert store.pages(job_id, 0, 10) == []
    assert store.images(job_id, 0, 10) == []
    assert store.counters(job_id)["pages_crawled"] == 0
    assert store.backlog()["leased"] == 0
    assert store.status(job_id) == "cancelled"


def test_cancel_unknown_job_is_none(store):
    assert store.cancel("c" * 32) is None


def test_cancel_of_a_completed_job_changes_nothing(store):
    job_id = store.new_job(urls(1))
    store.heartbeat("w1", 10, 10)
    [task] = store.tasks(10)
    store.crawl(task)
    assert store.cancel(job_id) == "completed"
    assert store.status(job_id) == "completed"


def test_cancelled_jobs_leases_are_dropped_by_the_reaper(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 1000, 10)
    store.tasks(10)
    store.cancel(job_id)
    store.advance(LEASE)
    assert store.reap(3, 11) == (0, 0)
    assert store.backlog()["leased"] == 0
    assert store.counters(job_id)["pages_retried"] == 0


# --- capacity and fairness ----------------------------------------------------------------


def test_lease_capacity_is_live_slots_minus_leases(store):
    store.new_job(urls(20))
    store.heartbeat("w1", 10, 3)
    store.heartbeat("w2", 10, 2)
    first = store.tasks(64)
    assert len(first) == 5
    assert store.tasks(64) == []
    store.crawl(first[0])
    assert len(store.tasks(64)) == 1
    store.heartbeat("w3", 10, 4)
    assert len(store.tasks(64)) == 4


def test_expired_heartbeat_removes_capacity(store):
    store.new_job(urls(20))
    store.heartbeat("w1", 10, 3)
    store.heartbeat("w2", 30, 3)
    store.advance(11)
    assert store.backlog()["workers"] == 1
    assert len(store.tasks(64)) == 3
    store.advance(20)
    assert store.backlog()["workers"] == 0
    assert store.tasks(64) == []


def test_heartbeat_with_no_slots_keeps_the_worker_alive_without_capacity(store):
    store.new_job(urls(5))
    assert store.heartbeat("w1", 10, 4) == 1
    assert store.heartbeat("w2", 10, 4) == 2
    assert store.heartbeat("w1", 10, 0) == 2          # draining: alive, no new tasks
    assert store.backlog()["workers"] == 2
    assert len(store.tasks(64)) == 4


def test_heartbeat_with_no_time_left_withdraws_at_once(store):
    store.new_job(urls(5))
    store.heartbeat("w1", 10, 4)
    store.heartbeat("w2", 10, 4)
    assert store.heartbeat("w1", 0, 0) == 1           # gone
    assert store.backlog()["workers"] == 1
    assert len(store.tasks(64)) == 4


def test_a_worker_that_left_has_its_leases_reclaimed(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 10, 4)
    a, b = store.tasks(10)
    store.start(a, LEASE, False, "w1", True)
    store.heartbeat("w1", 0, 0)
    assert store.reap(3, 11) == (1, 0)
    assert store.counters(job_id)["pages_retried"] == 1
    assert store.backlog()["leased"] == 1


def test_heartbeat_forgets_expired_workers(store):
    store.heartbeat("w1", 5, 4)
    store.advance(6)
    assert store.heartbeat("w2", 5, 4) == 1
    store.advance(1)
    assert store.heartbeat("w2", 5, 2) == 1
    store.new_job(urls(5))
    assert len(store.tasks(64)) == 2


def test_two_jobs_on_two_hosts_are_both_served(store):
    big = store.new_job(urls(100, "big.example"))
    small = store.new_job(urls(2, "small.example"))
    store.heartbeat("w1", 10, 1000)
    tasks = store.tasks(4)
    assert [t.job for t in tasks] == [big, small, big, small]
    assert {t.url for t in tasks if t.job == small} == set(urls(2, "small.example"))
    rest = store.tasks(1000)
    assert len(rest) == 98 and {t.job for t in rest} == {big}


def test_small_job_is_not_stuck_behind_a_big_one_leased_one_at_a_time(store):
    store.new_job(urls(100, "big.example"))
    small = store.new_job(urls(2, "small.example"))
    store.heartbeat("w1", 100, 1000)
    first = []
    for _ in range(4):
        first += store.tasks(1)
        store.advance(0.5)          # time passes between two lease rounds
    assert sum(t.job == small for t in first) == 2


def test_a_job_created_later_joins_the_rotation(store):
    big = store.new_job(urls(10, "big.example"))
    store.heartbeat("w1", 10, 1000)
    assert [t.job for t in store.tasks(3)] == [big] * 3
    late = store.new_job(urls(1, "late.example"))
    assert late in [t.job for t in store.tasks(2)]


# --- reaping -----------------------------------------------------------------------------


def test_expired_lease_is_requeued_at_the_front(store):
    job_id = store.new_job(urls(3))
    store.heartbeat("w1", 1000, 1)
    [task] = store.tasks(10)
    store.start(task, LEASE, False, "w1", True)
    store.advance(LEASE - 1)
    assert store.reap(3, 11) == (0, 0)
    store.advance(1)
    assert store.reap(3, 11) == (1, 0)
    assert store.counters(job_id)["pages_retried"] == 1
    assert store.backlog()["leased"] == 0
    [again] = store.tasks(10)
    assert untokened([again]) == [Task(job_id, task.url, 0, attempt=2)]
    assert again.lease != task.lease


def test_a_task_out_of_attempts_fails_and_the_job_completes(store):
    job_id = store.new_job(["http://a.example/"])
    store.heartbeat("w1", 1000, 10)
    for attempt in (1, 2):
        [task] = store.tasks(10)
        assert task.attempt == attempt
        store.start(task, LEASE, False, "w1", True)
        store.advance(LEASE)
        assert store.reap(2, 100) == ((1, 0) if attempt == 1 else (0, 1))
    job = store.job(job_id)
    assert job["status"] == "completed"
    assert store.counters(job_id) == {
        "pages_admitted": 1, "pending": 0, "pages_crawled": 0, "pages_failed": 1,
        "pages_skipped": 0, "pages_retried": 1, "images_found": 0}
    [(url, page)] = store.pages(job_id, 0, 10)
    assert url == "http://a.example/"
    assert page["status"] == "error"
    assert page["depth"] == 0
    assert page["attempt"] == 2
    assert page["error"] == "gave up after 2 attempts (2 deliveries): lease expired"


def test_a_task_pushed_too_often_fails_without_an_attempt(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 1000, 1)
    for round_ in (1, 2):
        [task] = store.tasks(10)
        assert task.url == "http://a.example/0"
        store.advance(LEASE)
        requeued, failed = store.reap(3, 2)
    assert (requeued, failed) == (0, 1)
    [(_, page)] = store.pages(job_id, 0, 10)
    assert page["error"] == "gave up after 0 attempts (2 deliveries): lease expired"
    assert store.status(job_id) == "running"
    [task] = store.tasks(10)
    assert task.url == "http://a.example/1"


def test_a_released_task_is_leased_again_at_once(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 1000, 10)
    first, second = store.tasks(10)
    assert store.release(first, False) == 1
    assert store.backlog()["leased"] == 1
    assert untokened(store.tasks(10)) == untokened([first])
    assert store.reap(3, 11) == (0, 0)
    assert store.counters(job_id)["pages_retried"] == 0


def test_release_of_a_finished_task_is_harmless(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 1000, 10)
    task = store.tasks(10)[0]
    store.crawl(task)
    assert store.release(task, True) == 0
    assert store.reap(3, 11) == (0, 0)
    assert store.counters(job_id)["pages_retried"] == 0
    assert [t.url for t in store.tasks(10)] == []       # the other one is still leased
    assert store.counters(job_id)["pages_crawled"] == 1


def test_late_finish_after_a_requeue_is_counted_once(store):
    job_id = store.new_job(["http://a.example/"])
    store.heartbeat("w1", 1000, 10)
    [task] = store.tasks(10)
    store.start(task, LEASE, False, "w1", True)
    store.advance(LEASE)
    assert store.reap(3, 11) == (1, 0)
    [again] = store.tasks(10)
    assert store.finish(task, "crawled", {"url": task.url}, [], [], task.url, 100) == 0
    assert store.status(job_id) == "completed"
    assert store.start(again, LEASE, False, "w1", True).go is False
    assert store.finish(again, "crawled", {"url": task.url}, [], [], task.url, 100) == -1
    assert store.counters(job_id)["pages_crawled"] == 1


def test_a_dead_owners_leases_come_back_before_they_expire(store):
    job_id = store.new_job(urls(3))
    store.heartbeat("w1", 10, 10)
    store.heartbeat("w2", 1000, 10)
    a, b, c = store.tasks(10)
    store.start(a, LEASE, False, "w1", True)
    store.start(b, LEASE, False, "w2", True)
    store.advance(10)
    assert store.reap(3, 11) == (0, 0)     # w1's heartbeat ends now, not before
    store.advance(1)
    assert store.reap(3, 11) == (1, 0)     # only the task w1 had started
    assert store.counters(job_id)["pages_retried"] == 1
    assert store.backlog()["leased"] == 2
    assert untokened(store.tasks(10)) == [Task(job_id, a.url, 0, attempt=2)]
    assert store.reap(3, 11) == (0, 0)


def test_a_live_owners_leases_stay_until_they_expire(store):
    store.new_job(urls(1))
    store.heartbeat("w1", 10, 10)
    [task] = store.tasks(10)
    store.start(task, LEASE, False, "w1", True)
    for _ in range(5):
        store.advance(8)
        store.heartbeat("w1", 10, 10)
        assert store.reap(3, 11) == (0, 0)
    store.advance(LEASE - 40)
    store.heartbeat("w1", 10, 10)
    assert store.reap(3, 11) == (1, 0)


def test_a_task_that_arrives_after_its_lease_was_reaped_is_dropped(store):
    job_id = store.new_job(urls(1))
    store.heartbeat("w1", 1000, 10)
    [task] = store.tasks(10)
    store.advance(LEASE)
    assert store.reap(3, 11) == (1, 0)
    assert store.start(task, LEASE, False, "w1", True) == StartResult(go=False, reason="lease lost")
    assert store.backlog()["leased"] == 0
    assert store.counters(job_id)["pages_retried"] == 1
    [again] = store.tasks(10)
    assert again.attempt == 1                      # the late start counted no attempt


def test_a_draining_workers_pages_in_flight_are_not_requeued(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 10, 10)
    task = store.tasks(10)[0]
    store.start(task, LEASE, False, "w1", True)
    store.heartbeat("w1", 10, 0)      # stop: no new tasks, finish what is running
    assert store.reap(3, 11) == (0, 0)
    assert store.counters(job_id)["pages_retried"] == 0
    assert store.crawl(task) == 0
    assert store.counters(job_id)["pages_crawled"] == 1


def test_reap_respects_its_limit(store):
    store.new_job(urls(5))
    store.heartbeat("w1", 1000, 10)
    store.tasks(10)
    store.advance(LEASE)
    assert store.reap(3, 11, 2) == (2, 0)
    assert store.reap(3, 11, 10) == (3, 0)


# --- backlog and ping --------------------------------------------------------------------


def test_backlog_and_ping(store):
    assert store.backlog() == {"leased": 0, "workers": 0}
    store.heartbeat("w1", 10, 2)
    store.new_job(urls(3))
    store.tasks(10)
    assert store.backlog() == {"leased": 2, "workers": 1}
    store.ping(2)


def test_fake_ping_can_fail_or_hang():
    clock = Clock()
    fake = FakeStore(clock)
    fake.ping_error = ConnectionError("redis is down")
    with pytest.raises(ConnectionError):
        result_of(fake.ping(2))
    fake.ping_error = None
    fake.ping_hangs = True
    d = fake.ping(2)
    assert not d.called
    clock.advance(2)
    with pytest.raises(Exception):
        result_of(d)


def test_fake_records_calls_and_checks_job_ids():
    fake = FakeStore()
    result_of(fake.job("a" * 32))
    fake.assert_job_ids()
    with pytest.raises(AssertionError):
        result_of(Deferred.fromCoroutine(fake.images("nope", 0, 1)))
    with pytest.raises(AssertionError):
        fake.assert_job_ids()
    assert fake.called("job") == [("a" * 32,)]


# --- the connection's replies, as txredisapi gives them ----------------------------------


def test_command_replies_are_shaped_as_txredisapi_gives_them(store):
    assert store.command("ping") == "PONG"
    assert store.command("execute_command", "HSET", "t:h", "a", "1", "b", "é") == 2
    assert store.command("hgetall", "t:h") == {"a": "1", "b": "é"}
    assert store.command("hgetall", "t:none") == {}
    assert store.command("hmget", "t:h", ["a", "none"]) == ["1", None]
    assert store.command("lrange", "t:none", 0, -1) == []
    assert store.command("execute_command", "ZADD", "t:z", "XX", 0, "m") == 0
    assert store.command("execute_command", "ZADD", "t:z", T0 + 0.5, "a", T0 + 1, "b") == 2
    assert store.command("zrevrange", "t:z", 0, -1) == ["b", "a"]
    assert store.command("zcount", "t:z", T0 + 0.5, "+inf") == 2
    assert store.command("zcard", "t:z") == 2


def test_lua_replies_are_shaped_as_txredisapi_gives_them(store):
    script = "return {1, false, 'x', {2, {'y'}}, 3.7, ARGV[1], ARGV[2]}"
    assert store.command("eval", script, [], [0.5, "/2024"]) == [
        1, None, "x", [2, ["y"]], 3, "0.500000", "/2024"]
    assert store.command("eval", "return false") is None
    assert store.command("eval", "return {}") == []
    assert store.command("eval", "return {ok = 'fine'}") == "fine"
    [nested] = store.command("eval", "return {{err = 'nested'}}")
    assert isinstance(nested, ResponseError)


def test_errors_keep_the_servers_code(store):
    store.command("execute_command", "HSET", "t:h", "a", "1")
    with pytest.raises(ResponseError, match="^WRONGTYPE "):
        store.command("execute_command", "INCR", "t:h")
    with pytest.raises(ResponseError, match="^ERR value is not an integer"):
        store.command("execute_command", "HINCRBY", "t:h", "a", "x")
    with pytest.raises(ResponseError, match="^ERR "):
        store.command("eval", "return redis.call('INCR', 'no', 'such', 'arguments')")
    with pytest.raises(ScriptDoesNotExist):
        store.command("evalsha", "0" * 40)


def test_scripts_are_sent_again_after_a_script_flush(store):
    """As after a Redis restart: EVALSHA misses, and the store sends the source."""
    store.new_job(urls(2))
    store.heartbeat("w1", 10, 10)
    assert store.command("script_exists", scripts.CREATE_JOB.sha, scripts.HEARTBEAT.sha) == [True, True]
    store.command("script_flush")
    assert store.command("script_exists", scripts.HEARTBEAT.sha) is False
    assert store.heartbeat("w1", 10, 10) == 1
    assert store.command("script_exists", scripts.HEARTBEAT.sha) is True
    assert len(store.tasks(10)) == 2


# --- the fake's inspection --------------------------------------------------------------


def test_fake_state_is_read_with_the_key_names():
    fake = FakeStore()
    fake.clock.advance(T0)
    job_id = result_of(fake.create(urls(2), OPTIONS))
    result_of(fake.heartbeat("w1", 10, 4))
    state = fake.redis_state
    assert state.hget(keys.job(job_id), "status") == "queued"
    assert state.smembers(keys.job(job_id, "seen")) == set(urls(2))
    assert state.zscore(keys.JOBS, job_id) == T0
    assert state.zscore(keys.WORKERS, "w1") == T0 + 10
    assert state.zscore(keys.READY, "http://a.example") is not None
    assert state.hget(keys.host("http://a.example", "load"), job_id) == "2"
    assert state.lrange(keys.job(job_id, "frontier:http://a.example"), 0, -1) == [
        f"0 {url}" for url in urls(2)]


def test_fake_redis_refuses_what_needs_a_connection_of_its_own():
    redis = FakeRedis()
    for name in ("multi", "watch", "pipeline", "blpop"):
        with pytest.raises(AttributeError):
            getattr(redis, name)
    assert result_of(redis.execute_command("SET", "k", 1)) == "OK"
    assert result_of(redis.get("k")) == "1"
