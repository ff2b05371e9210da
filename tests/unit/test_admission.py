"""
The admission policy (L{api.admission}): who the client is, the limits
from the configuration, the refusals, and L{Admission} over a FakeStore
(the real store and Lua over fakeredis) with time on a Clock.
"""

import dataclasses
import hashlib

import pytest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from api.admission import Admission, client_id, limits, refusal, retry_after
from api.http import ApiError
from common.config import from_env
from common.store import AdmissionLimits, AdmissionVerdict
from tests.fakes import FakeStore
from tests.unit.conftest import OPTIONS, result_of

T0 = 1_700_000_000.0


def done(awaitable):
    """The result of a coroutine or Deferred of the FakeStore, which never waits."""
    return result_of(ensureDeferred(awaitable))


def request_from(host="192.0.2.1", token=None):
    request = DummyRequest([b"jobs"])
    kind = IPv6Address if ":" in host else IPv4Address
    request.client = kind("TCP", host, 40000)
    if token is not None:
        request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {token}".encode()])
    return request


class Policy:
    """An L{Admission} over a FakeStore, on a Clock, with the default limits but for C{settings}."""

    def __init__(self, **settings):
        self.clock = Clock()
        self.clock.advance(T0)
        self.config = dataclasses.replace(from_env({}), **settings)
        self.store = FakeStore(self.clock)
        self.admission = Admission(self.store, self.config)

    def submit(self, request=None, max_pages=1000):
        """Admit and create a job as Api.submit does; the job id, or the ApiError."""
        request = request or request_from()
        try:
            client = done(self.admission.admit(request, max_pages))
        except ApiError as e:
            return e
        options = {**OPTIONS, "max_pages": max_pages}
        return done(self.store.create(["http://a.example/"], options, False, client))

    def submit_many(self, n, **kwargs):
        return [self.submit(**kwargs) for _ in range(n)]


def refused(outcome):
    assert isinstance(outcome, ApiError), outcome
    return outcome.status, outcome.code, outcome.headers.get(b"retry-after")


def created(outcomes):
    return [o for o in outcomes if isinstance(o, str)]


# --- who the client is --------------------------------------------------------------


def test_with_tokens_the_client_is_a_hash_of_the_token():
    a = client_id(request_from(token="s3cret"), tokens_on=True)
    assert a == "token:" + hashlib.sha256(b"s3cret").hexdigest()[:16]
    assert "s3cret" not in a
    assert client_id(request_from("198.51.100.7", token="s3cret"), tokens_on=True) == a
    assert client_id(request_from(token="other"), tokens_on=True) != a


def test_without_tokens_the_client_is_its_address():
    given = request_from("192.0.2.1", token="ignored")
    assert client_id(given, tokens_on=False) == "addr:192.0.2.1"
    assert client_id(request_from("::ffff:192.0.2.1"), tokens_on=False) == "addr:192.0.2.1"


def test_an_ipv6_client_is_its_slash_64():
    a = client_id(request_from("2001:db8:1:2::5"), tokens_on=False)
    assert a == "addr:2001:db8:1:2::/64"
    assert client_id(request_from("2001:db8:1:2:ffff::1"), tokens_on=False) == a
    assert client_id(request_from("2001:db8:1:3::5"), tokens_on=False) != a


# --- the limits and the answers -------------------------------------------------------


def test_limits_come_from_the_configuration_per_second():
    assert limits(from_env({})) == AdmissionLimits(
        client_rate=0.5, client_burst=10, total_rate=10.0, total_burst=60,
        live_jobs=20, pages_rate=100_000 / 3600, pages_burst=100_000)


@pytest.mark.parametrize(("wait", "header"), [
    (0.001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (2.0000000001, 2), (2.01, 3), (3599.5, 3600)])
def test_retry_after_is_whole_seconds_rounded_up(wait, header):
    assert retry_after(wait) == header


@pytest.mark.parametrize(("limit", "named"), [
    ("client_rate", "this client may create 30 jobs a minute (bursts of 10)"),
    ("total_rate", "600 new jobs a minute from all clients together"),
])
def test_a_rate_refusal_is_429_rate_limited_naming_the_limit(limit, named):
    error = refusal(AdmissionVerdict(False, limit, 1.5), from_env({}), 1000)
    assert refused(error) == (429, "rate_limited", b"2")
    assert named in error.message and "retry in 2 s" in error.message


def test_a_page_budget_refusal_says_how_many_pages_are_left():
    error = refusal(AdmissionVerdict(False, "pages", 36.4, 10), from_env({}), 1000)
    assert refused(error) == (429, "page_budget", b"37")
    assert "the 10 pages this client has left of its 100000 an hour" in error.message
    assert "ask for at most 10" in error.message


def test_a_live_jobs_refusal_has_no_retry_after():
    error = refusal(AdmissionVerdict(False, "live_jobs"), from_env({}), 1000)
    assert refused(error) == (429, "too_many_jobs", None)
    assert "20 jobs queued or running" in error.message


# --- Admission over the store, on a Clock --------------------------------------------


def test_a_burst_then_the_rate():
    policy = Policy()
    outcomes = policy.submit_many(12)
    assert len(created(outcomes)) == 10
    assert refused(outcomes[10]) == (429, "rate_limited", b"2")
    policy.clock.advance(2)
    assert len(created(policy.submit_many(2))) == 1


def test_the_bucket_refills_to_its_burst_only():
    policy = Policy(client_live_jobs=0)
    policy.submit_many(10)
    policy.clock.advance(3600)
    assert len(created(policy.submit_many(15))) == 10


def test_clients_do_not_share_a_bucket():
    policy = Policy()
    policy.submit_many(10, request=request_from("192.0.2.1"))
    assert refused(policy.submit(request_from("192.0.2.1")))[1] == "rate_limited"
    assert isinstance(policy.submit(request_from("192.0.2.2")), str)


def test_the_total_limit_holds_for_all_clients_together():
    policy = Policy(total_jobs_per_minute=60, total_jobs_burst=3)
    outcomes = [policy.submit(request_from(f"192.0.2.{i}")) for i in range(1, 5)]
    assert len(created(outcomes)) == 3
    error = outcomes[3]
    assert refused(error) == (429, "rate_limited", b"1")
    assert "from all clients together" in error.message


def test_the_live_job_cap_is_released_when_a_job_completes_or_is_cancelled():
    policy = Policy(client_live_jobs=2, client_jobs_per_minute=0)
    first, second = policy.submit_many(2)
    assert refused(policy.submit())[1] == "too_many_jobs"
    done(policy.store.cancel(first))
    assert isinstance(policy.submit(), str)
    policy.store.heartbeat("w1", 10, 10)
    tasks, _ = done(policy.store.lease(60, 10))
    [task] = [t for t in tasks if t.job == second]
    done(policy.store.start(task, 60, False, "w1", True))
    done(policy.store.finish(task, "crawled", {"url": task.url, "depth": 0, "status": 200},
                                  [], [], task.url, 100))
    assert isinstance(policy.submit(), str)
    assert refused(policy.submit())[1] == "too_many_jobs"


def test_the_page_budget_per_hour():
    policy = Policy(client_pages_per_hour=3600, client_jobs_per_minute=0)
    assert isinstance(policy.submit(max_pages=3000), str)
    error = policy.submit(max_pages=1000)
    assert refused(error) == (429, "page_budget", b"400")
    assert "the 600 pages this client has left" in error.message
    assert isinstance(policy.submit(max_pages=600), str)
    policy.clock.advance(3600)
    assert isinstance(policy.submit(max_pages=3600), str)


def test_max_pages_over_the_whole_budget_is_422():
    policy = Policy(client_pages_per_hour=500)
    error = policy.submit(max_pages=501)
    assert refused(error) == (422, "max_pages_over_budget", None)
    assert policy.store.called("admit") == []


def test_a_job_still_queued_after_its_time_to_live_expires():
    policy = Policy(client_live_jobs=1)
    policy.store.job_ttl = 60
    job_id = policy.submit()
    assert refused(policy.submit())[1] == "too_many_jobs"
    policy.clock.advance(60)
    done(policy.store.reap(3, 11))
    job = done(policy.store.job(job_id))
    assert (job["status"], job["cancel_reason"]) == ("cancelled", "expired before it started")
    assert isinstance(policy.submit(), str)


def test_with_every_limit_off_the_store_is_not_asked():
    policy = Policy(client_jobs_per_minute=0, total_jobs_per_minute=0, client_live_jobs=0,
                    client_pages_per_hour=0)
    assert len(created(policy.submit_many(50, max_pages=100_000))) == 50
    assert policy.store.called("admit") == []
    assert done(policy.store.job(policy.submit()))["client"] == "addr:192.0.2.1"
