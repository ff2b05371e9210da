"""
The HTTP API driven in process: the real twisted.web Site (the ApiSite
the service installs) over a StringTransport, the
resources over a FakeStore, time on a Clock.  No sockets.
"""

import csv
import dataclasses
import io
import json
from urllib.parse import urlsplit

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from api.metrics import Metrics
from api.resources import Api, Root
from api.site import ApiSite
from common.config import from_env
from tests.fakes import FakeStore

T0 = 1_700_000_000.0
JSON = "application/json; charset=utf-8"


class FakeDispatcher:
    def __init__(self):
        self.running = True
        self.wakes = 0

    def wake(self):
        self.wakes += 1


@dataclasses.dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def header(self, name):
        values = self.headers.get(name.lower(), [])
        assert len(values) <= 1, values
        return values[0] if values else None

    def json(self):
        assert self.header("content-type") == JSON, self.headers
        return json.loads(self.body)

    def error(self):
        body = self.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        return body["error"]["code"]


def dechunk(data):
    out = b""
    while True:
        size, _, data = data.partition(b"\r\n")
        size = int(size, 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2:]


def parse_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    if headers.get("transfer-encoding") == ["chunked"]:
        body = dechunk(body)
    return Response(status, headers, body)


class ApiHarness:
    """The API's Site, a FakeStore behind it, and a way to make requests."""

    def __init__(self, **settings):
        self.clock = Clock()
        self.clock.advance(T0)
        self.config = dataclasses.replace(from_env({}), **settings)
        self.store = FakeStore(self.clock)
        self.dispatcher = FakeDispatcher()
        self.metrics = Metrics()
        self.site = ApiSite(Root(Api(self.store, self.dispatcher, self.config, self.metrics)),
                            self.config, reactor=self.clock)

    def send(self, method, path, body=b"", headers=None, chunked=False):
        """Send one request; fire with the transport (to look at, or to drop)."""
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        channel.makeConnection(transport)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        lines = [f"{method} {path} HTTP/1.1", "Host: api.test", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                               for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(body)}")
            payload = body
        channel.dataReceived("\r\n".join(lines).encode() + b"\r\n\r\n" + payload)
        return channel, transport

    def request(self, method, path, body=b"", headers=None, chunked=False):
        _, transport = self.send(method, path, body, headers, chunked)
        assert transport.value(), f"no response to {method} {path}"
        return parse_response(transport.value())

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    # -- filling the store ---------------------------------------------------

    def crawled_job(self, images=0, pages=1):
        """A job with C{pages} start pages crawled, the first with C{images} images."""
        job_id = self.store.create([f"http://a.example/{i}" for i in range(pages)],
                                   {"max_depth": 0, "scope": "host", "max_pages": 10_000,
                                    "host_concurrency": 4, "host_delay": 0.0}, False)
        job_id = job_id.result
        self.store.heartbeat("w", 60, pages)
        tasks, _ = run(self.store.lease(60, pages))
        for n, task in enumerate(tasks):
            found = [[f"http://a.example/{i}.png", ["img", "srcset"], f"alt {i}"]
                     for i in range(images if n == 0 else 0)]
            self.store.finish(task, "crawled", {"url": task.url, "depth": 0, "status": 200,
                                                "images": len(found)},
                              found, [], task.url, 100)
        return job_id


def run(coroutine):
    results = []
    Deferred.fromCoroutine(coroutine).addBoth(results.append)
    assert results and not isinstance(results[0], Failure), results
    return results[0]


# The defaults of the crawl-control and webhook options (api/input.py, api/callbacks.py).
CRAWL_CONTROLS = {"include": [], "exclude": [], "sitemaps": False, "obey_nofollow": True,
                  "callback_url": None, "callback_events": ["completed", "cancelled", "failed"],
                  "callback_every_pages": 100}


@pytest.fixture
def api():
    return ApiHarness()


# --- POST /jobs -------------------------------------------------------------------------


def test_post_json_creates_a_job(api):
    response = api.post("/jobs", {"urls": ["http://example.com/", "http://example.com/b"],
                                  "max_depth": 2})
    assert response.status == 201
    job = response.json()
    assert response.header("location") == f"/jobs/{job['id']}"
    assert response.header("cache-control") == "no-store"
    assert int(response.header("content-length")) == len(response.body)
    assert job["status"] == "queued"
    assert job["urls"] == ["http://example.com/", "http://example.com/b"]
    assert job["options"] == {"max_depth": 2, "scope": "host", "max_pages": 1000,
                              "host_concurrency": 4, "host_delay": 0.0, **CRAWL_CONTROLS}
    assert job["stats"]["pages_admitted"] == 2
    assert job["stats"]["pages_pending"] == 2
    assert job["created_at"] == "2023-11-14T22:13:20.000Z"
    assert job["links"]["images"] == f"/jobs/{job['id']}/images"
    assert api.dispatcher.wakes == 1
    assert api.store.called("create") == [(["http://example.com/", "http://example.com/b"],
                                           {"max_depth": 2, "scope": "host", "max_pages": 1000,
                                            "host_concurrency": 4, "host_delay": 0.0,
                                            **CRAWL_CONTROLS},
                                           True, "addr:192.168.1.1")]
    assert api.get(f"/jobs/{job['id']}").json() == job


def test_post_text_form_with_query_options(api):
    body = b"http://example.com/ahttp://example.com/b\nhttp://example.com/c"
    response = api.post("/jobs?max_depth=0&scope=any", body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 201
    job = response.json()
    assert job["urls"] == ["http://example.com/a", "http://example.com/b", "http://example.com/c"]
    assert job["options"]["max_depth"] == 0 and job["options"]["scope"] == "any"


def test_post_without_content_type_is_text(api):
    response = api.post("/jobs", b"http://example.com/")
    assert response.status == 201
    assert response.json()["urls"] == ["http://example.com/"]


def test_form_body_is_not_read_as_query_options(api):
    # request.args would mix a form body into the options; only the query counts
    response = api.post("/jobs", b"urls=http://example.com/",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 201
    assert response.json()["urls"] == ["http://example.com/"]


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b"{", "application/json", 400, "malformed_json"),
    (b"42", "application/json", 400, "malformed_json"),
    (b"http://e.com/\xff", "text/plain", 400, "bad_encoding"),
    (b"<urls/>", "application/xml", 415, "unsupported_media_type"),
    (b'{"urls": ["ftp://e.com/"]}', "application/json", 422, "invalid_url"),
    (b'{"urls": []}', "application/json", 422, "no_urls"),
    (b'{"urls": ["http://e.com/"], "max_depth": 1001}', "application/json", 422, "bad_option"),
    (b'{"urls": ["http://e.com/"], "depth": 1}', "application/json", 422, "unknown_field"),
])
def test_post_errors_are_json(api, body, content_type, status, code):
    response = api.post("/jobs", body, headers={"Content-Type": content_type})
    assert response.status == status
    assert response.error() == code
    assert api.store.called("create") == []
    assert api.dispatcher.wakes == 0


@pytest.mark.parametrize("query", ["max_depth=%C2%B2", "max_pages=abc", "scope=planet"])
def test_bad_query_option_is_422_not_500(api, query):
    response = api.post(f"/jobs?{query}", b"http://e.com/", headers={"Content-Type": "text/plain"})
    assert (response.status, response.error()) == (422, "bad_option")


def test_too_many_urls_is_422(api):
    api = ApiHarness(max_start_urls=2)
    response = api.post("/jobs", ["http://e.com/1", "http://e.com/2", "http://e.com/3"])
    assert (response.status, response.error()) == (422, "too_many_urls")


# --- request body limit ------------------------------------------------------------------


def test_body_over_the_limit_is_413():
    api = ApiHarness(max_request_bytes=1024)
    body = json.dumps({"urls": [f"http://example.com/{i:04}" for i in range(100)]}).encode()
    assert len(body) > 1024
    response = api.post("/jobs", body, headers={"Content-Type": "application/json"})
    assert (response.status, response.error()) == (413, "body_too_large")
    assert "1024" in response.json()["error"]["message"]
    assert api.store.called("create") == []


def test_chunked_body_over_the_limit_is_413():
    api = ApiHarness(max_request_bytes=1024)
    body = b" ".join(b"http://example.com/%04d" % i for i in range(100))
    response = api.post("/jobs", body, headers={"Content-Type": "text/plain"}, chunked=True)
    assert (response.status, response.error()) == (413, "body_too_large")
    assert api.store.called("create") == []


def test_body_at_the_limit_is_fine():
    api = ApiHarness(max_request_bytes=1024)
    body = b"http://example.com/" + b"a" * (1024 - len(b"http://example.com/"))
    assert len(body) == 1024
    response = api.post("/jobs", body, headers={"Content-Type": "text/plain"}, chunked=True)
    assert response.status == 201


def buffered_sizes(api):
    """Record how much body each request held when it was complete."""
    sizes, factory = [], api.site.requestFactory

    def make(*args, **kwargs):
        request = factory(*args, **kwargs)
        received = request.requestReceived

        def spy(*a):
            request.content.seek(0, io.SEEK_END)
            sizes.append(request.content.tell())
            return received(*a)

        request.requestReceived = spy
        return request

    api.site.requestFactory = make
    return sizes


@pytest.mark.parametrize("chunked", [True, False])
def test_a_body_over_the_limit_is_not_kept(chunked):
    api = ApiHarness(max_request_bytes=1024)
    sizes = buffered_sizes(api)
    response = api.post("/jobs", b"x" * 50_000, headers={"Content-Type": "text/plain"},
                        chunked=chunked)
    assert response.status == 413
    assert sizes == [0]


def test_a_body_within_the_limit_is_kept():
    api = ApiHarness(max_request_bytes=1024)
    sizes = buffered_sizes(api)
    api.post("/jobs", b"http://e.com/", headers={"Content-Type": "text/plain"}, chunked=True)
    assert sizes == [len(b"http://e.com/")]


# --- authorization -----------------------------------------------------------------------


@pytest.fixture
def locked():
    return ApiHarness(api_token=("s3cret",))


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/"), ("POST", "/"),
    ("GET", "/jobs/" + "a" * 32), ("DELETE", "/jobs/" + "a" * 32),
    ("GET", "/jobs/" + "a" * 32 + "/images"), ("GET", "/job/" + "a" * 32),
])
def test_token_is_required(locked, method, path):
    response = locked.request(method, path, b'{"urls": ["http://e.com/"]}',
                              headers={"Content-Type": "application/json"})
    assert (response.status, response.error()) == (401, "unauthorized")
    assert response.header("www-authenticate") == "Bearer"
    assert locked.store.calls == []


@pytest.mark.parametrize("value", ["Bearer wrong", "s3cret", "Basic czNjcmV0", "Bearer  s3cret",
                                   "bearer s3cret", "Bearer s3cret2"])
def test_wrong_token_is_401(locked, value):
    response = locked.get("/jobs", headers={"Authorization": value})
    assert response.status == 401


def test_bearer_token_is_accepted(locked):
    response = locked.post("/jobs", {"urls": ["http://e.com/"]},
                           headers={"Authorization": "Bearer s3cret"})
    assert response.status == 201
    job_id = response.json()["id"]
    assert locked.get(f"/jobs/{job_id}", headers={"Authorization": "Bearer s3cret"}).status == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_token(locked, path):
    assert locked.get(path).status == 200


def test_token_is_checked_before_the_body_size():
    api = ApiHarness(api_token=("s3cret",), max_request_bytes=1024)
    response = api.post("/jobs", b"x" * 2000, headers={"Content-Type": "text/plain"})
    assert response.status == 401


# --- job ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", [
    "nope", "A" * 32, "a" * 31, "a" * 33, "..", "%2e%2e%2f" + "a" * 29, "a" * 32 + "%00",
    "g" * 32, "%20" + "a" * 31,
])
@pytest.mark.parametrize("suffix", ["", "/images", "/pages", "/images?format=csv"])
def test_malformed_job_ids_are_404_and_never_reach_the_store(api, job_id, suffix):
    response = api.get(f"/jobs/{job_id}{suffix}")
    assert (response.status, response.error()) == (404, "no_such_job")
    assert api.store.called("job") == []
    api.store.assert_job_ids()


@pytest.mark.parametrize("job_id", ["nope", "A" * 32])
def test_malformed_job_id_delete_and_legacy_are_404(api, job_id):
    for method, path in (("DELETE", f"/jobs/{job_id}"), ("GET", f"/job/{job_id}")):
        response = api.request(method, path)
        assert (response.status, response.error()) == (404, "no_such_job")
    assert api.store.calls == []


def test_long_bad_id_is_cut_in_the_message(api):
    response = api.get("/jobs/" + "z" * 500)
    assert response.status == 404
    assert len(response.json()["error"]["message"]) < 120


@pytest.mark.parametrize("suffix", ["", "/images", "/pages"])
def test_unknown_job_is_404(api, suffix):
    response = api.get(f"/jobs/{'b' * 32}{suffix}")
    assert (response.status, response.error()) == (404, "no_such_job")
    assert api.store.called("job") == [("b" * 32,)]


def test_unknown_job_delete_is_404(api):
    response = api.delete(f"/jobs/{'b' * 32}")
    assert (response.status, response.error()) == (404, "no_such_job")
    assert api.store.called("cancel") == []


# --- other errors -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/jobs/" + "a" * 32 + "/nope", "/healthz/x",
                                  "/jobs/" + "a" * 32 + "/images/x", "/job/" + "a" * 32 + "/x"])
def test_unknown_paths_are_json_404(api, path):
    response = api.get(path)
    assert (response.status, response.error()) == (404, "not_found")


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/jobs", "GET, POST"),
    ("DELETE", "/jobs", "GET, POST"),
    ("PATCH", "/", "GET, POST"),
    ("POST", "/jobs/" + "a" * 32, "DELETE, GET"),
    ("PUT", "/jobs/" + "a" * 32, "DELETE, GET"),
    ("POST", "/healthz", "GET"),
    ("DELETE", "/readyz", "GET"),
    ("POST", "/jobs/" + "a" * 32 + "/images", "GET"),
    ("get", "/jobs", "GET, POST"),
])
def test_wrong_method_is_json_405(api, method, path, allow):
    response = api.request(method, path)
    assert (response.status, response.error()) == (405, "method_not_allowed")
    assert response.header("allow") == allow


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_wrong_method_on_metrics_is_json_405(api, method):
    response = api.request(method, "/metrics")
    assert (response.status, response.error()) == (405, "method_not_allowed")


def test_wrong_method_on_metrics_says_what_is_allowed(api):
    assert api.post("/metrics", b"").header("allow") == "GET"


def test_head_on_metrics(api):
    response = api.request("HEAD", "/metrics")
    assert response.status == 200
    assert response.body == b""


def test_jobs_with_a_trailing_slash_is_the_job_list(api):
    assert api.get("/jobs/").json() == {"jobs": [], "next": None}
    response = api.post("/jobs/", {"urls": ["http://e.com/"]})
    assert response.status == 201
    assert response.header("location") == f"/jobs/{response.json()['id']}"


def test_a_store_failure_is_a_json_500(api):
    def broken(urls, options, obey_robots):
        raise RuntimeError("redis exploded")

    api.store.create = broken
    response = api.post("/jobs", {"urls": ["http://e.com/"]})
    assert (response.status, response.error()) == (500, "internal")
    assert "exploded" not in response.body.decode()


def test_head_has_headers_without_a_body(api):
    response = api.request("HEAD", "/healthz")
    assert response.status == 200
    assert response.body == b""
    assert int(response.header("content-length")) > 0


def test_response_after_the_client_left_is_not_written(api):
    api.store.ping_hangs = True
    channel, transport = api.send("GET", "/readyz")
    assert transport.value() == b""
    channel.connectionLost(Failure(ConnectionError("client went away")))
    api.clock.advance(5)  # the ping times out; nobody is left to answer
    assert transport.value() == b""


# --- reading jobs --------------------------------------------------------------------------


def test_get_job(api):
    job_id = api.crawled_job(images=2)
    job = api.get(f"/jobs/{job_id}").json()
    assert job["id"] == job_id
    assert job["status"] == "completed"
    assert job["stats"]["images_found"] == 2
    assert job["stats"]["pages_crawled"] == 1
    assert job["finished_at"] == "2023-11-14T22:13:20.000Z"


def test_job_list_is_paginated(api):
    ids = []
    for _ in range(3):
        ids.append(api.post("/jobs", {"urls": ["http://e.com/"]}).json()["id"])
        api.clock.advance(1)
    first = api.get("/jobs?limit=2").json()
    assert [j["id"] for j in first["jobs"]] == ids[::-1][:2]
    assert first["next"] == "/jobs?cursor=2&limit=2"
    second = api.get(first["next"]).json()
    assert [j["id"] for j in second["jobs"]] == [ids[0]]
    assert second["next"] is None


def test_empty_job_list(api):
    assert api.get("/jobs").json() == {"jobs": [], "next": None}


def test_images_are_paginated(api):
    job_id = api.crawled_job(images=5)
    path = f"/jobs/{job_id}/images?limit=2"
    seen, pages = [], 0
    while path:
        body = api.get(path).json()
        seen += body["images"]
        path = body["next"]
        pages += 1
        if path:
            assert urlsplit(path).path == f"/jobs/{job_id}/images"
    assert pages == 3
    assert [i["url"] for i in seen] == [f"http://a.example/{i}.png" for i in range(5)]
    assert seen[0] == {"url": "http://a.example/0.png", "sources": ["img", "srcset"],
                       "found_on": ["http://a.example/0"], "alt": "alt 0"}


def test_exact_page_has_no_next(api):
    job_id = api.crawled_job(images=2)
    body = api.get(f"/jobs/{job_id}/images?limit=2").json()
    assert len(body["images"]) == 2 and body["next"] is None


def test_default_page_size_is_100(api):
    job_id = api.crawled_job(images=150)
    body = api.get(f"/jobs/{job_id}/images").json()
    assert len(body["images"]) == 100
    assert body["next"] == f"/jobs/{job_id}/images?cursor=100&limit=100"
    assert len(api.get(body["next"]).json()["images"]) == 50


def test_pages_listing(api):
    job_id = api.crawled_job(images=1, pages=3)
    body = api.get(f"/jobs/{job_id}/pages").json()
    assert body["next"] is None
    assert [p["url"] for p in body["pages"]] == [f"http://a.example/{i}" for i in range(3)]
    assert body["pages"][0] == {"url": "http://a.example/0", "depth": 0, "status": 200, "images": 1}


@pytest.mark.parametrize("query", ["cursor=-1", "cursor=x", "limit=0", "limit=1001", "limit=2.5"])
def test_bad_cursor_is_400(api, query):
    job_id = api.crawled_job(images=1)
    response = api.get(f"/jobs/{job_id}/images?{query}")
    assert (response.status, response.error()) == (400, "bad_cursor")


def test_bad_cursor_on_the_job_list_is_400(api):
    assert api.get("/jobs?limit=-5").error() == "bad_cursor"


def test_bad_format_is_400(api):
    job_id = api.crawled_job(images=1)
    response = api.get(f"/jobs/{job_id}/images?format=xml")
    assert (response.status, response.error()) == (400, "bad_format")


# --- exports ---------------------------------------------------------------------------------


def test_ndjson_export(api):
    job_id = api.crawled_job(images=3)
    response = api.get(f"/jobs/{job_id}/images?format=ndjson")
    assert response.status == 200
    assert response.header("content-type") == "application/x-ndjson; charset=utf-8"
    lines = response.body.decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"url": f"http://a.example/{i}.png", "sources": ["img", "srcset"],
         "found_on": ["http://a.example/0"], "alt": f"alt {i}"} for i in range(3)]


def test_csv_export(api):
    job_id = api.crawled_job(images=2)
    response = api.get(f"/jobs/{job_id}/images?format=csv")
    assert response.header("content-type") == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.body.decode())))
    assert rows == [["url", "sources", "found_on", "alt"],
                    ["http://a.example/0.png", "img srcset", "http://a.example/0", "alt 0"],
                    ["http://a.example/1.png", "img srcset", "http://a.example/0", "alt 1"]]


def test_txt_export(api):
    job_id = api.crawled_job(images=2)
    response = api.get(f"/jobs/{job_id}/images?format=txt")
    assert response.header("content-type") == "text/plain; charset=utf-8"
    assert response.body == b"http://a.example/0.png\nhttp://a.example/1.png\n"


def test_pages_csv_export(api):
    job_id = api.crawled_job(images=1, pages=2)
    rows = list(csv.reader(io.StringIO(api.get(f"/jobs/{job_id}/pages?format=csv").body.decode())))
    assert rows == [["url", "depth", "status", "images", "error"],
                    ["http://a.example/0", "0", "200", "1", ""],
                    ["http://a.example/1", "0", "200", "0", ""]]


def test_empty_exports(api):
    job_id = api.post("/jobs", {"urls": ["http://e.com/"]}).json()["id"]
    assert api.get(f"/jobs/{job_id}/images?format=ndjson").body == b""
    assert api.get(f"/jobs/{job_id}/images?format=txt").body == b""
    assert api.get(f"/jobs/{job_id}/images?format=csv").body == b"url,sources,found_on,alt\r\n"


@pytest.mark.parametrize("count", [1000, 1500])
def test_export_reads_in_chunks_and_gets_everything(api, count):
    job_id = api.crawled_job(images=count)
    body = api.get(f"/jobs/{job_id}/images?format=txt").body
    assert body.decode().splitlines() == [f"http://a.example/{i}.png" for i in range(count)]
    offsets = [offset for _, offset, _ in api.store.called("images")]
    assert offsets == list(range(0, count + 1, 1000))


# --- cancel ------------------------------------------------------------------------------


def test_delete_cancels_and_is_idempotent(api):
    job_id = api.post("/jobs", {"urls": ["http://e.com/"]}).json()["id"]
    api.clock.advance(2)
    first = api.delete(f"/jobs/{job_id}")
    assert first.status == 200
    assert first.json()["status"] == "cancelled"
    assert first.json()["finished_at"] == "2023-11-14T22:13:22.000Z"
    second = api.delete(f"/jobs/{job_id}")
    assert second.status == 200
    assert second.json() == first.json()
    assert api.get(f"/jobs/{job_id}").json()["status"] == "cancelled"


def test_delete_of_a_completed_job_leaves_it_completed(api):
    job_id = api.crawled_job()
    response = api.delete(f"/jobs/{job_id}")
    assert response.status == 200
    assert response.json()["status"] == "completed"


# --- the 2015 interface -------------------------------------------------------------------


def test_legacy_post_and_get(api):
    response = api.post("/", b"http://example.com/ http://example.com/b")
    assert response.status == 201
    body = response.json()
    assert response.header("location") == f"/job/{body['id']}"
    assert body == {"id": body["id"], "status": "queued",
                    "all_urls": ["http://example.com/", "http://example.com/b"],
                    "crawls_pending": 2, "crawls_completed": 0, "images": []}
    assert api.dispatcher.wakes == 1
    assert api.get(f"/job/{body['id']}").json() == body


def test_legacy_get_lists_image_urls(api):
    job_id = api.crawled_job(images=2)
    assert api.get(f"/job/{job_id}").json() == {
        "id": job_id, "status": "completed", "all_urls": ["http://a.example/0"],
        "crawls_pending": 0, "crawls_completed": 1,
        "images": ["http://a.example/0.png", "http://a.example/1.png"]}


def test_root_describes_the_service(api):
    assert api.get("/").json() == {"service": "imagecrawler", "jobs": "/jobs", "health": "/healthz",
                                   "openapi": "/openapi.json"}


# --- probes and metrics ---------------------------------------------------------------------


def test_healthz(api):
    response = api.get("/healthz")
    assert (response.status, response.json()) == (200, {"status": "ok"})
    assert api.store.calls == []


def test_readyz_when_ready(api):
    api.store.heartbeat("w1", 10, 4)
    response = api.get("/readyz")
    assert response.status == 200
    assert response.json() == {"ready": True, "checks": {"zmq": "ok", "redis": "ok"},
                               "leased": 0, "workers": 1}


def test_readyz_is_503_when_redis_fails(api):
    api.store.ping_error = ConnectionError("connection refused")
    response = api.get("/readyz")
    assert response.status == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["zmq"] == "ok"
    assert body["checks"]["redis"].startswith("down: ")
    assert "connection refused" in body["checks"]["redis"]


def test_readyz_is_503_when_redis_does_not_answer_in_time(api):
    api.store.ping_hangs = True
    _, transport = api.send("GET", "/readyz")
    assert transport.value() == b""
    api.clock.advance(2)
    response = parse_response(transport.value())
    assert response.status == 503
    assert response.json()["checks"]["redis"].startswith("down")


def test_readyz_is_503_when_the_dispatcher_is_down(api):
    api.dispatcher.running = False
    response = api.get("/readyz")
    assert response.status == 503
    assert response.json()["checks"]["zmq"] == "down"


def test_metrics(api):
    api.post("/jobs", {"urls": ["http://e.com/"]})
    api.post("/jobs", {"urls": ["http://e.com/"]})
    api.metrics.workers.set(3)
    response = api.get("/metrics")
    assert response.status == 200
    assert response.header("content-type").startswith("text/plain")
    text = response.body.decode()
    assert "imagecrawler_jobs_created_total 2.0" in text
    assert "imagecrawler_workers_live 3.0" in text
    for name in ("tasks_pushed", "tasks_requeued", "tasks_given_up", "pages_finished",
                 "tasks_leased"):
        assert f"imagecrawler_{name}" in text
