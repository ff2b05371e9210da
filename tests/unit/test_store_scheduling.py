"""
The job store's pool-wide politeness, on both backends (the C{store}
fixture of C{tests/unit/conftest.py}): host concurrency and delay across
jobs and workers, hosts taking turns, the robots.txt duty, retries,
releases, lease tokens, reaping, cancelling, and the per-host state left
behind.  See docs/design.rst, "The Redis data model" and "The lease
protocol".
"""

from common import keys
from common.keys import START_MARGIN
from common.messages import Task
from common.store import StartResult
from tests.unit.conftest import LEASE, T0, untokened, urls

A = "http://a.example"
B = "http://b.example"
TIMEOUT = {"error": "timeout"}


def hosts_of(tasks):
    return [t.url.rsplit("/", 1)[0] for t in tasks]


# --- host concurrency ------------------------------------------------------------------


def test_host_concurrency_bounds_the_fetches_in_flight_on_a_host(store):
    store.new_job(urls(10), host_concurrency=2)
    store.heartbeat("w1", 1000, 100)
    first = store.tasks(10)
    assert [t.url for t in first] == urls(2)
    assert store.tasks(10) == []
    store.crawl(first[0])
    assert [t.url for t in store.tasks(10)] == [urls(3)[2]]
    assert store.tasks(10) == []


def test_each_host_has_its_own_limit(store):
    store.new_job(urls(5, "a.example") + urls(5, "b.example"), host_concurrency=2)
    store.heartbeat("w1", 1000, 100)
    assert sorted(hosts_of(store.tasks(10))) == [A, A, B, B]
    assert store.tasks(10) == []


def test_the_host_limit_is_shared_by_every_job_on_the_host(store):
    one = store.new_job(urls(5), host_concurrency=2)
    two = store.new_job(urls(5), host_concurrency=2)
    store.heartbeat("w1", 1000, 100)
    assert [t.job for t in store.tasks(10)] == [one, two]
    assert store.tasks(10) == []


def test_worker_slots_still_bound_the_total(store):
    store.new_job(urls(10, "a.example") + urls(10, "b.example"), host_concurrency=2)
    store.heartbeat("w1", 1000, 3)
    assert sorted(hosts_of(store.tasks(100))) == [A, A, B]    # 3 slots
    store.heartbeat("w2", 1000, 10)
    assert hosts_of(store.tasks(100)) == [B]                  # 2 a host
    assert store.tasks(100) == []


def test_a_full_host_does_not_hold_up_another_host_of_the_same_job(store):
    job_id = store.new_job(urls(2, "slow.example") + urls(4, "fast.example"), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    fast, slow = store.tasks(10)
    assert (fast.url, slow.url) == ("http://fast.example/0", "http://slow.example/0")
    store.accept(slow)                              # and it takes its time
    for n in range(1, 4):
        store.crawl(fast)
        [fast] = store.tasks(10)
        assert fast.url == f"http://fast.example/{n}"
    store.crawl(fast)
    assert store.tasks(10) == []
    assert store.counters(job_id)["pages_crawled"] == 4


# --- host delay -------------------------------------------------------------------------


def test_host_delay_paces_the_leases_of_a_host(store):
    store.new_job(urls(5), host_delay=1.0, host_concurrency=10)
    store.heartbeat("w1", 1000, 100)
    tasks, wake = store.lease(LEASE, 10)
    assert ([t.url for t in tasks], wake) == (urls(1), T0 + 1)
    store.advance(0.5)
    assert store.lease(LEASE, 10) == ([], T0 + 1)
    store.advance(0.5)
    tasks, wake = store.lease(LEASE, 10)
    assert ([t.url for t in tasks], wake) == (urls(2)[1:], T0 + 2)


def test_a_paced_host_does_not_hold_up_another_host(store):
    store.new_job(urls(3, "a.example"), host_delay=1.0)
    store.new_job(urls(3, "b.example"))
    store.heartbeat("w1", 1000, 100)
    assert sorted(hosts_of(store.tasks(10))) == [A, B, B, B]


def test_start_on_a_paced_host_reserves_the_next_fetch_start(store):
    store.new_job(urls(3), host_delay=1.0, host_concurrency=10)
    store.heartbeat("w1", 1000, 100)
    [a] = store.tasks(10)
    store.advance(1)
    [b] = store.tasks(10)                            # leased on time, at T0 + 1
    store.advance(0.5)
    started = store.accept(a)                        # a starts late: the next start is at T0 + 2.5
    assert started.go and started.paced
    due = T0 + 2.5 + START_MARGIN
    assert store.accept(b) == StartResult(go=False, reason="host not due", due=due)
    assert store.backlog()["leased"] == 1
    store.advance(0.5)
    assert store.lease(LEASE, 10) == ([], due)
    store.advance(0.5 + START_MARGIN)
    [again] = store.tasks(10)
    assert untokened([again]) == [Task(b.job, b.url, 0, 1)]   # before c, no attempt spent
    assert store.accept(again).go


def test_start_without_a_free_slot_does_not_reserve(store):
    store.new_job(urls(2), host_delay=1.0, host_concurrency=10)
    store.heartbeat("w1", 1000, 100)
    [a] = store.tasks(10)
    store.advance(1)
    [b] = store.tasks(10)
    assert store.accept(a, reserve=False).paced
    assert store.accept(b, reserve=False).go       # both wait in the worker's queue
    assert store.reserve(a) is None                 # a starts now, at T0 + 1
    assert store.reserve(b) == T0 + 2 + START_MARGIN  # b would come too early: it waits in Redis
    assert store.backlog()["leased"] == 1
    store.advance(0.5)
    assert store.tasks(10) == []
    store.advance(0.5 + START_MARGIN)
    [again] = store.tasks(10)
    assert (again.url, again.attempt) == (b.url, 1)  # the attempt its start counted is undone
    assert store.reserve(again) is None


def test_a_fetch_outside_any_task_keeps_the_host_delay(store):
    store.new_job(urls(2), host_delay=1.0, host_concurrency=10)
    store.heartbeat("w1", 1000, 100)
    [a] = store.tasks(10)
    assert store.accept(a).go                       # a starts at T0
    first = T0 + 1 + START_MARGIN
    assert store.pace(A) == first                   # a sitemap fetch must wait for a's delay
    store.advance(1 + START_MARGIN)
    assert store.pace(A) is None                    # then it starts, and takes the next start
    [b] = store.tasks(10)
    started = store.accept(b)
    assert (started.go, started.reason) == (False, "host not due")
    assert abs(started.due - (first + 1 + START_MARGIN)) < 1e-6


def test_a_host_the_pool_has_no_record_of_has_no_delay_to_keep(store):
    assert store.pace("http://elsewhere.example") is None
    assert store.pace("http://elsewhere.example") is None
    assert not store.exists(keys.host("http://elsewhere.example"))


def test_reserve_of_a_task_whose_lease_is_gone_says_lost(store):
    store.new_job(urls(1), host_delay=1.0)
    store.heartbeat("w1", 1000, 100)
    [task] = store.tasks(10)
    store.advance(LEASE)
    store.reap(3, 11)
    assert store.reserve(task) == "lost"


def test_an_unpaced_host_needs_no_reservation(store):
    store.new_job(urls(3))
    store.heartbeat("w1", 1000, 100)
    tasks = store.tasks(10)
    assert [store.accept(t) for t in tasks] == [StartResult(go=True, attempt=1)] * 3


# --- the strictest limits of the jobs on a host ---------------------------------------


def test_the_strictest_concurrency_of_the_jobs_on_a_host_applies(store):
    loose = store.new_job(urls(6), host_concurrency=3)
    strict = store.new_job(urls(2), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    turns = []
    while store.status(strict) != "completed":
        [task] = store.tasks(10)                     # one at a time while both are there
        turns.append(task.job)
        store.crawl(task)
    assert turns == [loose, strict, loose, strict]
    assert [t.url for t in store.tasks(10)] == urls(5)[2:]      # 3 at a time now
    assert store.status(loose) == "running"


def test_a_stricter_job_arriving_lowers_the_limit_at_once(store):
    store.new_job(urls(6), host_concurrency=3)
    store.heartbeat("w1", 1000, 100)
    running = store.tasks(10)
    assert len(running) == 3
    store.new_job(urls(2), host_concurrency=1)
    assert store.tasks(10) == []
    store.crawl(running[0])
    store.crawl(running[1])
    assert store.tasks(10) == []                     # still one in flight
    store.crawl(running[2])
    assert len(store.tasks(10)) == 1


def test_the_longest_delay_of_the_jobs_on_a_host_applies(store):
    store.new_job(urls(3), host_concurrency=10)
    store.new_job(urls(3), host_concurrency=10, host_delay=2.0)
    store.heartbeat("w1", 1000, 100)
    tasks, wake = store.lease(LEASE, 10)
    assert (len(tasks), wake) == (1, T0 + 2)


# --- turns ------------------------------------------------------------------------------


def test_jobs_on_one_host_take_turns(store):
    one = store.new_job(urls(3))
    two = store.new_job(urls(3))
    store.heartbeat("w1", 1000, 100)
    assert [t.job for t in store.tasks(5)] == [one, two, one, two, one]


def test_a_job_created_later_gets_its_turn_on_a_busy_host(store):
    early = store.new_job(urls(10), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    [task] = store.tasks(10)
    late = store.new_job(urls(3), host_concurrency=1)
    turns = [task.job]
    for _ in range(5):
        store.crawl(task)
        [task] = store.tasks(10)
        turns.append(task.job)
    # it joins the rotation at its end, behind the job just served; then they alternate
    assert turns == [early, early, late, early, late, early]


# --- robots.txt, once per host for the pool ----------------------------------------------


def test_the_first_lease_of_an_unknown_host_gives_one_task_the_robots_duty(store):
    store.new_job(urls(3, "a.example") + urls(2, "b.example"), robots=True)
    store.heartbeat("w1", 1000, 100)
    first = store.tasks(10)
    assert [t.url for t in first] == ["http://a.example/0", "http://b.example/0"]
    assert [store.accept(t).robots for t in first] == ["fetch", "fetch"]
    assert store.tasks(10) == []                     # the hosts' other tasks wait for robots.txt


def test_stored_rules_bring_the_task_back_and_free_the_host(store):
    job_id = store.new_job(urls(3), robots=True)
    store.heartbeat("w1", 1000, 100)
    [duty] = store.tasks(10)
    assert store.accept(duty) == StartResult(go=True, attempt=1, robots="fetch")
    store.record_robots(duty, "rules", body="User-agent: *\nDisallow: /2\n")
    tasks = store.tasks(10)
    assert untokened(tasks) == [Task(job_id, url, 0, 1) for url in urls(3)]  # no attempt spent
    answers = {store.accept(t).robots for t in tasks}
    assert len(answers) == 1 and answers.pop().startswith("rules ")
    assert store.robots_rules(A) == "User-agent: *\nDisallow: /2\n"
    assert store.counters(job_id)["pages_retried"] == 0


def test_another_job_on_the_host_gets_the_same_answer_without_fetching(store):
    store.new_job(urls(1), robots=True)
    store.heartbeat("w1", 1000, 100)
    [duty] = store.tasks(10)
    store.accept(duty)
    store.record_robots(duty, "rules", body="User-agent: *\nAllow: /\n")
    answer = store.accept(store.tasks(10)[0]).robots
    store.new_job(urls(2), robots=True)
    assert [store.accept(t).robots for t in store.tasks(10)] == [answer, answer]


def test_allow_lets_the_hosts_tasks_through(store):
    store.new_job(urls(3), robots=True)
    store.heartbeat("w1", 1000, 100)
    [duty] = store.tasks(10)
    store.accept(duty)
    store.record_robots(duty, "allow")
    assert [store.accept(t).robots for t in store.tasks(10)] == ["allow"] * 3
    assert store.robots_rules(A) is None


def test_a_failed_robots_fetch_holds_the_host_and_is_tried_again_with_backoff(store):
    store.new_job(urls(3), robots=True)
    store.heartbeat("w1", 1000, 100)
    [duty] = store.tasks(10)
    store.accept(duty)
    store.record_robots(duty, "fail", retry_seconds=10)
    assert store.lease(LEASE, 10) == ([], T0 + 10)
    store.advance(9)
    assert store.tasks(10) == []
    store.advance(1)
    [duty] = store.tasks(10)                         # one task, with the duty again
    assert duty.url == urls(1)[0]
    assert store.accept(duty).robots == "fetch"
    store.record_robots(duty, "fail", retry_seconds=10)
    assert store.lease(LEASE, 10) == ([], T0 + 30)  # twice as long


def test_after_max_tries_failures_the_hosts_pages_are_denied(store):
    store.new_job(urls(3), robots=True)
    store.heartbeat("w1", 1000, 100)
    for wait in (10, 20, 0):
        [duty] = store.tasks(10)
        assert store.accept(duty).robots == "fetch"
        store.record_robots(duty, "fail", max_tries=3, retry_seconds=10,
                            note="robots.txt unreachable: HTTP 503")
        store.advance(wait)
    answers = [store.accept(t).robots for t in store.tasks(10)]
    assert answers == ["deny robots.txt unreachable: HTTP 503"] * 3


def test_a_robots_duty_whose_holder_died_passes_to_the_next_task(store):
    store.new_job(urls(3), robots=True)
    store.heartbeat("w1", 10, 100)
    store.heartbeat("w2", 1000, 100)
    [duty] = store.tasks(10)
    store.accept(duty, worker="w1")
    store.heartbeat("w1", 0, 0)                      # w1 is gone
    assert store.reap(3, 11) == (1, 0)
    [task] = store.tasks(10)
    assert store.accept(task, worker="w2").robots == "fetch"
    assert store.tasks(10) == []


def test_a_robots_duty_not_taken_on_within_the_accept_window_passes_on(store):
    store.new_job(urls(3), robots=True)
    store.heartbeat("w1", 1000, 100)
    [lost] = store.tasks(10, accept=5)
    store.advance(5)
    assert store.reap(3, 11) == (1, 0)
    [task] = store.tasks(10)
    assert store.accept(task).robots == "fetch"
    assert store.accept(lost).reason == "lease lost"


def test_crawl_delay_becomes_the_hosts_delay(store):
    store.new_job(urls(3), robots=True, host_concurrency=10)
    store.heartbeat("w1", 1000, 100)
    [duty] = store.tasks(10)
    assert store.accept(duty).paced is False
    store.record_robots(duty, "rules", body="User-agent: *\nCrawl-delay: 2\n", crawl_delay=2)
    # two seconds after the robots.txt fetch (and the margin for jitter)
    assert store.lease(LEASE, 10) == ([], T0 + 2 + START_MARGIN)
    store.advance(2 + START_MARGIN)
    [task] = store.tasks(10)
    assert task.url == duty.url
    assert store.accept(task).paced is True
    store.advance(1)
    assert store.tasks(10) == []
    store.advance(1 + START_MARGIN)
    assert len(store.tasks(10)) == 1


def test_a_job_that_ignores_robots_txt_gets_no_duty(store):
    store.new_job(urls(3), robots=False)
    store.heartbeat("w1", 1000, 100)
    assert [store.accept(t).robots for t in store.tasks(10)] == [""] * 3


# --- retries -----------------------------------------------------------------------------


def test_a_retried_task_waits_until_due_and_then_comes_first(store):
    job_id = store.new_job(urls(3), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    [task] = store.tasks(10)
    store.accept(task)
    assert store.retry(task, T0 + 10, None, TIMEOUT) == 1
    [other] = store.tasks(10)                        # the next page takes its place
    assert other.url == urls(2)[1]
    store.advance(10)
    store.crawl(other)
    [again] = store.tasks(10)                        # due: ahead of the third page
    assert (again.url, again.attempt) == (task.url, 2)
    started = store.accept(again)
    assert (started.attempt, started.tries) == (2, (TIMEOUT,))
    assert store.counters(job_id)["pages_retried"] == 1


def test_the_next_wake_is_when_a_retry_is_due(store):
    store.new_job(urls(1))
    store.heartbeat("w1", 1000, 100)
    [task] = store.tasks(10)
    store.accept(task)
    store.retry(task, T0 + 10, None, TIMEOUT)
    assert store.lease(LEASE, 10) == ([], T0 + 10)
    store.advance(9)
    assert store.lease(LEASE, 10) == ([], T0 + 10)
    store.advance(1)
    assert [t.url for t in store.tasks(10)] == [task.url]


def test_a_retry_with_a_pause_pauses_the_whole_host(store):
    store.new_job(urls(4))
    store.new_job(urls(2, "b.example"))
    store.heartbeat("w1", 1000, 100)
    leased = store.tasks(1)
    store.accept(leased[0])
    store.retry(leased[0], T0 + 30, T0 + 30, {"status": 503})
    assert sorted(hosts_of(store.tasks(10))) == [B, B]   # another host is not paused
    store.advance(29)
    assert store.lease(LEASE, 10) == ([], T0 + 30)
    store.advance(1)
    assert [t.url for t in store.tasks(10)] == urls(4)   # the retry first


def test_every_try_joins_the_pages_history(store):
    store.new_job(urls(1))
    store.heartbeat("w1", 1000, 100)
    for n in range(3):
        [task] = store.tasks(10)
        started = store.accept(task)
        assert started.tries == tuple({"try": i} for i in range(n))
        store.retry(task, store.clock.seconds(), None, {"try": n})


# --- release -----------------------------------------------------------------------------


def test_release_costs_neither_an_attempt_nor_a_delivery(store):
    job_id = store.new_job(urls(2), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    for _ in range(3):
        [task] = store.tasks(10)
        assert (task.url, task.attempt) == (urls(1)[0], 1)   # at the front, first try
        assert store.accept(task).attempt == 1
        assert store.release(task, True) == 1
        [task] = store.tasks(10)
        assert store.release(task, False) == 1               # never started
    [task] = store.tasks(10)
    store.accept(task)
    store.advance(LEASE)
    assert store.reap(2, 2) == (1, 0)                # 1 attempt and 1 delivery, not 4 and 7
    assert store.counters(job_id)["pages_retried"] == 1


# --- lease tokens ---------------------------------------------------------------------------


def _stale_and_current(store, n=1, accept=LEASE):
    """A job of C{n} pages whose first was leased, reclaimed and leased again."""
    job_id = store.new_job(urls(n), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    [stale] = store.tasks(10, accept)
    store.advance(accept)
    assert store.reap(3, 11) == (1, 0)
    [current] = store.tasks(10)
    assert current.url == stale.url and current.lease != stale.lease
    return job_id, stale, current


def test_a_stale_copy_of_a_task_is_dropped_by_start(store):
    _, stale, current = _stale_and_current(store)
    assert store.accept(stale) == StartResult(go=False, reason="lease lost")
    assert store.accept(current).go


def test_a_stale_copy_cannot_release_or_retry_the_current_lease(store):
    job_id, stale, current = _stale_and_current(store, n=2)
    store.accept(current)
    assert store.release(stale, True) == 0
    assert store.retry(stale, T0, None, TIMEOUT) == 0
    assert store.backlog()["leased"] == 1
    assert store.tasks(10) == []                     # the host's one slot is still current's
    assert store.counters(job_id)["pages_retried"] == 1      # the reap's only
    assert store.accept(current).tries == ()


def test_a_stale_finish_records_the_page_once_and_keeps_the_current_lease(store):
    job_id, stale, current = _stale_and_current(store, n=2)
    assert store.done(stale) == 0                    # a frozen worker wakes up and finishes
    assert store.backlog()["leased"] == 1            # current's lease is untouched
    assert store.accept(current) == StartResult(go=False, reason="already done")
    assert store.backlog()["leased"] == 0
    store.crawl(store.tasks(10)[0])
    assert store.status(job_id) == "completed"
    assert store.counters(job_id)["pages_crawled"] == 2
    assert store.counters(job_id)["pending"] == 0


def test_a_stale_finish_of_the_last_page_completes_the_job_exactly(store):
    job_id, stale, current = _stale_and_current(store)
    store.accept(current)
    assert store.done(stale) == 0
    assert store.status(job_id) == "completed"
    assert store.done(current) == -1
    assert store.counters(job_id)["pages_crawled"] == 1
    assert store.backlog()["leased"] == 0


# --- reap ---------------------------------------------------------------------------------


def test_a_task_not_taken_on_within_the_accept_window_comes_back(store):
    job_id = store.new_job(urls(2), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    [task] = store.tasks(10, accept=5)
    store.advance(4)
    assert store.reap(3, 11) == (0, 0)
    store.advance(1)
    assert store.reap(3, 11) == (1, 0)
    assert untokened(store.tasks(10)) == [Task(job_id, task.url, 0, 1)]


def test_a_dead_owners_tasks_free_their_hosts(store):
    store.new_job(urls(3), host_concurrency=1)
    store.heartbeat("w1", 10, 100)
    store.heartbeat("w2", 1000, 100)
    [task] = store.tasks(10)
    store.accept(task, worker="w1")
    store.advance(11)
    assert store.reap(3, 11) == (1, 0)
    [again] = store.tasks(10)
    assert (again.url, again.attempt) == (task.url, 2)


def test_giving_up_records_a_failed_page_with_its_tries(store):
    job_id = store.new_job(urls(1))
    store.heartbeat("w1", 1000, 100)
    [task] = store.tasks(10)
    store.accept(task)
    store.retry(task, T0, None, TIMEOUT)
    [task] = store.tasks(10)
    store.accept(task)
    store.advance(LEASE)
    assert store.reap(2, 11) == (0, 1)
    [(_, page)] = store.pages(job_id, 0, 10)
    assert page["tries"] == [TIMEOUT]
    assert page["attempt"] == 2
    assert store.status(job_id) == "completed"
    assert store.counters(job_id)["pages_failed"] == 1


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_mid_crawl_drops_the_jobs_tasks_and_its_limits(store):
    gone = store.new_job(urls(3), host_concurrency=1)
    kept = store.new_job([f"http://a.example/k{i}" for i in range(5)], host_concurrency=3)
    store.heartbeat("w1", 1000, 100)
    [waiting] = store.tasks(10)                      # gone's: to be retried later
    store.accept(waiting)
    store.retry(waiting, T0 + 100, None, TIMEOUT)
    store.crawl(store.tasks(10)[0])                  # kept's
    [leased] = store.tasks(10)                       # gone's, in flight
    assert leased.job == gone
    store.accept(leased)
    assert store.cancel(gone) == "cancelled"
    seen = store.tasks(10)
    assert [t.job for t in seen] == [kept, kept]     # kept's limit of 3, one still in flight
    assert store.done(leased) == -1                  # the fetch in flight ends
    seen += store.tasks(10)
    store.advance(100)                               # the retry comes due, and goes
    for task in seen:
        store.crawl(task)
    seen += store.tasks(10)
    assert {t.job for t in seen} == {kept}
    for task in seen[3:]:
        store.crawl(task)
    assert store.status(kept) == "completed"
    assert store.tasks(10) == []
    assert store.counters(kept)["pages_crawled"] == 5
    assert store.command("zcard", keys.DELAYED) == 0


def test_a_task_released_after_its_job_was_cancelled_is_not_queued_again(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 1000, 100)
    first, _ = store.tasks(10)
    store.accept(first)
    store.cancel(job_id)
    assert store.release(first, True) == 1           # a draining worker hands it back
    assert store.tasks(10) == []
    assert store.ready_hosts() == []
    assert not store.exists(keys.job(job_id, f"frontier:{A}"))


def test_robots_txt_stored_after_its_job_was_cancelled_does_not_queue_the_task(store):
    job_id = store.new_job(urls(2), robots=True)
    store.heartbeat("w1", 1000, 100)
    [duty] = store.tasks(10)
    store.accept(duty)
    store.cancel(job_id)
    store.record_robots(duty, "allow")
    assert store.tasks(10) == []
    assert not store.exists(keys.job(job_id, f"frontier:{A}"))
    other = store.new_job(urls(1))                   # the answer stays for the pool
    assert store.tasks(10)[0].job == other


def test_a_retry_after_its_job_was_cancelled_leaves_nothing_behind(store):
    job_id = store.new_job(urls(2))
    store.heartbeat("w1", 1000, 100)
    first, _ = store.tasks(10)
    store.accept(first)
    store.cancel(job_id)
    assert store.retry(first, T0 + 10, None, TIMEOUT) == 1
    assert store.backlog()["leased"] == 1            # only the other one
    assert store.command("zcard", keys.DELAYED) == 0
    assert not store.exists(keys.job(job_id, "tries"))
    assert store.counters(job_id)["pages_retried"] == 0


def test_a_reserve_after_its_job_was_cancelled_lets_the_task_go(store):
    job_id = store.new_job(urls(2), host_delay=1.0, host_concurrency=10)
    store.heartbeat("w1", 1000, 100)
    [first] = store.tasks(10)
    store.advance(1)
    [second] = store.tasks(10)
    store.accept(first, reserve=False)
    store.accept(second, reserve=False)
    store.reserve(first)
    store.cancel(job_id)
    assert store.reserve(second) == "lost"           # not fetched, not queued again
    assert store.command("zcard", keys.DELAYED) == 0
    assert not store.exists(keys.job(job_id, "attempts"))
    assert not store.exists(keys.job(job_id, "pushes"))


# --- what a host keeps ----------------------------------------------------------------------


def test_host_state_is_cleaned_up_when_every_job_on_it_completes(store):
    one = store.new_job(urls(3), host_concurrency=2)
    two = store.new_job(urls(2), host_concurrency=2)
    store.heartbeat("w1", 1000, 100)
    while tasks := store.tasks(10):
        for task in tasks:
            store.crawl(task)
    assert store.status(one) == store.status(two) == "completed"
    assert store.ready_hosts() == []
    assert not store.exists(keys.host(A, "load"))
    assert not store.exists(keys.host(A, "jobs"))
    assert store.host_field(A, "leased") == "0"
    assert store.backlog()["leased"] == 0
    for job_id in (one, two):
        assert not store.exists(keys.job(job_id, "hosts"))
        assert not store.exists(keys.job(job_id, f"frontier:{A}"))


def test_host_state_is_cleaned_up_when_its_only_job_is_cancelled(store):
    job_id = store.new_job(urls(3), host_concurrency=1)
    store.heartbeat("w1", 1000, 100)
    [task] = store.tasks(10)
    store.accept(task)
    store.cancel(job_id)
    assert store.accept(task).reason == "cancelled"
    assert store.ready_hosts() == []
    assert not store.exists(keys.host(A, "load"))
    assert store.host_field(A, "leased") == "0"

