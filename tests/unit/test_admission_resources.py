"""
Admission control as a client sees it, through the real Site (the
harness of test_resources.py): 429 with Retry-After and the JSON error
body, on C{POST /jobs} and on the 2015 C{POST /}.
"""

import hashlib

import pytest

from common import keys
from tests.unit.test_resources import ApiHarness

URL = b"http://example.com/"
SUBMIT_PATHS = ["/jobs", "/"]


def submit(api, path="/jobs", max_pages=None, headers=None):
    query = "" if max_pages is None else f"?max_pages={max_pages}"
    return api.post(path + query, URL, headers=headers)


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_past_the_burst_a_submission_gets_429_with_retry_after(path):
    api = ApiHarness()
    assert [submit(api, path).status for _ in range(10)] == [201] * 10
    response = submit(api, path)
    assert response.status == 429
    assert response.header("retry-after") == "2"
    assert response.error() == "rate_limited"
    assert "this client may create 30 jobs a minute" in response.json()["error"]["message"]
    assert len(api.store.called("create")) == 10
    api.clock.advance(2)
    assert submit(api, path).status == 201


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_the_total_limit_names_itself(path):
    api = ApiHarness(total_jobs_per_minute=60, total_jobs_burst=2)
    submit(api, path), submit(api, path)
    response = submit(api, path)
    assert (response.status, response.header("retry-after"), response.error()) == (
        429, "1", "rate_limited")
    assert "all clients together" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_a_client_at_its_live_cap_gets_429_too_many_jobs(path):
    api = ApiHarness(client_live_jobs=1)
    assert submit(api, path).status == 201
    response = submit(api, path)
    assert (response.status, response.error()) == (429, "too_many_jobs")
    assert response.header("retry-after") is None


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_a_job_over_the_pages_left_gets_429_saying_how_many(path):
    api = ApiHarness(client_pages_per_hour=1500)
    assert submit(api, path, max_pages=1000).status == 201
    response = submit(api, path, max_pages=1000)
    assert (response.status, response.header("retry-after"), response.error()) == (
        429, "1200", "page_budget")
    assert "ask for at most 500" in response.json()["error"]["message"]
    assert submit(api, path, max_pages=500).status == 201


def test_max_pages_over_the_whole_budget_is_422():
    api = ApiHarness(client_pages_per_hour=500)
    response = submit(api, max_pages=501)
    assert (response.status, response.error()) == (422, "max_pages_over_budget")


def test_each_token_is_a_client_of_its_own():
    api = ApiHarness(api_token=("alpha", "beta"))
    alpha, beta = {"Authorization": "Bearer alpha"}, {"Authorization": "Bearer beta"}
    assert [submit(api, headers=alpha).status for _ in range(11)] == [201] * 10 + [429]
    assert submit(api, headers=beta).status == 201


def test_with_a_token_the_job_is_recorded_under_its_hash():
    api = ApiHarness(api_token=("s3cret",))
    response = submit(api, headers={"Authorization": "Bearer s3cret"})
    assert response.status == 201
    client = api.store.redis_state.hget(keys.job(response.json()["id"]), "client")
    assert client == "token:" + hashlib.sha256(b"s3cret").hexdigest()[:16]
    assert not [k for k in api.store.redis_state.keys("*") if "s3cret" in k]


def test_a_submission_without_the_token_never_reaches_admission():
    api = ApiHarness(api_token=("s3cret",))
    assert submit(api).status == 401
    assert api.store.called("admit") == []
