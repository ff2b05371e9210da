"""
Every bad request gets a clean 4xx, quickly: the attacks of issue 9 on the
API's Site, driven in process (the ApiHarness of test_resources: FakeStore,
Clock, no sockets), plus bearer tokens and a job store that does not answer.
"""

import hmac
import json
from http import HTTPStatus

import pytest
import txredisapi
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from api import http
from api.http import encode
from api.site import LINGER_SECONDS
from tests.unit.test_resources import ApiHarness, parse_response

JSON = {"Content-Type": "application/json"}


@implementer(ITCPTransport)
class TcpTransport(StringTransport):
    """A StringTransport that half-closes and aborts as a TCP connection does."""

    write_closed = False
    aborted = False
    flushes = True  # False: what is written stays unsent until the test says so

    def setTcpNoDelay(self, enabled):
        pass

    def loseWriteConnection(self):
        self.write_closed = True
        if self.flushes:
            self.protocol.writeConnectionLost()

    def abortConnection(self):
        self.aborted = True
        super().abortConnection()


def connect(api):
    channel = api.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = TcpTransport()
    transport.protocol = channel
    channel.makeConnection(transport)
    return channel, transport


def head(method, path, *headers):
    lines = [f"{method} {path} HTTP/1.1", "Host: api.test", *headers]
    return "\r\n".join(lines).encode() + b"\r\n\r\n"


def answers(transport):
    """The responses written so far (several on a kept-alive connection)."""
    raw, found = transport.value(), []
    while raw:
        response = parse_response(raw)
        found.append(response)
        raw = raw.partition(b"\r\n\r\n")[2][int(response.header("content-length")):]
    return found


def status_line(transport):
    return transport.value().split(b"\r\n", 1)[0]


def closed(transport):
    return transport.write_closed or transport.disconnecting


@pytest.fixture
def api():
    return ApiHarness()


# --- JSON that once got no answer or a 500 ---------------------------------------------


@pytest.mark.parametrize("body", [
    b'{"\\ud800": 1}', b'{"urls": ["http://e.com/\\udfff"]}', b'["\\ud83d"]',
    b'{"urls": ["http://e.com/"], "scope": "\\udc00"}'])
def test_a_lone_surrogate_is_a_400(api, body):
    response = api.post("/jobs", body, headers=JSON)
    assert (response.status, response.error()) == (400, "malformed_json")
    assert "surrogate" in response.json()["error"]["message"]


def test_a_surrogate_pair_is_fine(api):
    response = api.post("/jobs", b'{"urls": ["http://e.com/\\ud83d\\ude00"]}', headers=JSON)
    assert response.status == 201
    assert response.json()["urls"] == ["http://e.com/%F0%9F%98%80"]


def test_encode_never_fails_on_a_lone_surrogate():
    data = encode({"bad": "\ud800"})
    assert json.loads(data) == {"bad": "\ud800"}


def test_a_response_that_cannot_be_written_closes_the_connection(api, monkeypatch):
    async def unencodable(self, request):
        return 200, {"ids": {1, 2}}

    monkeypatch.setattr("api.resources.Health.GET", unencodable)
    _, transport = api.send("GET", "/healthz")
    assert transport.disconnecting


@pytest.mark.parametrize("depth", [65, 990, 100_000], ids=str)
def test_deep_json_is_a_400_naming_the_depth(api, depth):
    response = api.post("/jobs", b"[" * depth + b"]" * depth, headers=JSON)
    assert (response.status, response.error()) == (400, "json_too_deep")
    assert "64" in response.json()["error"]["message"]


def test_unclosed_deep_json_is_a_400(api):
    response = api.post("/jobs", b'{"urls": ' + b"[" * 100_000, headers=JSON)
    assert (response.status, response.error()) == (400, "json_too_deep")


def test_json_64_deep_is_parsed(api):
    value = b"[" * 63 + b"]" * 63
    response = api.post("/jobs", b'{"urls": ["http://e.com/"], "max_depth": ' + value + b"}",
                        headers=JSON)
    assert (response.status, response.error()) == (422, "bad_option")


def test_brackets_inside_strings_do_not_count(api):
    body = json.dumps({"urls": ["http://e.com/" + "[" * 500]}).encode()
    assert api.post("/jobs", body, headers=JSON).status == 201


def test_json_in_another_encoding_is_a_400(api):
    body = json.dumps({"urls": ["http://e.com/"]}).encode("utf-16")
    response = api.post("/jobs", body, headers=JSON)
    assert (response.status, response.error()) == (400, "malformed_json")


def test_a_huge_value_is_not_echoed_back(api):
    response = api.post("/jobs", {"urls": ["http://e.com/"], "scope": "x" * 100_000})
    assert (response.status, response.error()) == (422, "bad_option")
    assert len(response.body) < 300


# --- cursors and limits -------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "cursor=9223372036854775807", "cursor=4294967296", "cursor=99999999999999999999999",
    "cursor=%201", "cursor=+1", "cursor=1_0", "cursor=%D9%A1", "limit=%EF%BC%95",
    "limit=1e3", "cursor=" + "9" * 5000,
])
@pytest.mark.parametrize("path", ["/jobs", "/jobs/{id}/images", "/jobs/{id}/pages"])
def test_out_of_range_or_odd_cursors_are_400(api, query, path):
    job_id = api.crawled_job(images=1)
    response = api.get(path.format(id=job_id) + "?" + query)
    assert (response.status, response.error()) == (400, "bad_cursor")


def test_the_largest_cursor_is_an_empty_page(api):
    job_id = api.crawled_job(images=1)
    response = api.get(f"/jobs/{job_id}/images?cursor=4294967295&limit=1000")
    assert (response.status, response.json()) == (200, {"images": [], "next": None})


# --- the body cap, before the body ----------------------------------------------------------


def test_a_huge_content_length_is_413_at_once_and_closes():
    api = ApiHarness(max_request_bytes=1024)
    channel, transport = connect(api)
    channel.dataReceived(head("POST", "/jobs", "Content-Length: " + "1" + "0" * 20,
                              "Content-Type: text/plain"))
    [response] = answers(transport)
    assert (response.status, response.error()) == (413, "body_too_large")
    assert response.header("connection") == "close"
    assert transport.write_closed
    assert api.store.calls == []


def test_expect_100_continue_gets_the_413_instead(api):
    channel, transport = connect(ApiHarness(max_request_bytes=1024))
    channel.dataReceived(head("POST", "/jobs", "Content-Length: 5000", "Expect: 100-continue"))
    assert b"100 Continue" not in transport.value()
    assert status_line(transport).startswith(b"HTTP/1.1 413 ")


def test_a_huge_content_length_without_the_token_is_401_at_once():
    api = ApiHarness(api_token=("s3cret",), max_request_bytes=1024)
    channel, transport = connect(api)
    channel.dataReceived(head("POST", "/jobs", "Content-Length: 99999999999"))
    assert answers(transport)[0].status == 401
    assert transport.write_closed


def test_a_chunked_body_is_refused_as_it_passes_the_cap():
    api = ApiHarness(max_request_bytes=1024)
    channel, transport = connect(api)
    channel.dataReceived(head("POST", "/jobs", "Transfer-Encoding: chunked"))
    channel.dataReceived(b"400\r\n" + b"a" * 1024 + b"\r\n")
    assert transport.value() == b""
    channel.dataReceived(b"1\r\nb\r\n")
    [response] = answers(transport)
    assert (response.status, response.error()) == (413, "body_too_large")
    assert transport.write_closed


def test_after_a_refusal_what_the_client_sends_is_dropped_then_the_connection_aborted():
    api = ApiHarness(max_request_bytes=1024)
    channel, transport = connect(api)
    channel.dataReceived(head("POST", "/jobs", "Content-Length: 5000"))
    answered = transport.value()
    channel.dataReceived(b"x" * 4000 + head("GET", "/healthz"))
    assert transport.value() == answered
    assert not transport.aborted
    api.clock.advance(LINGER_SECONDS)
    assert transport.aborted


def test_the_linger_counts_from_when_the_answer_is_out():
    api = ApiHarness(max_request_bytes=1024)
    channel, transport = connect(api)
    transport.flushes = False
    channel.dataReceived(head("POST", "/jobs", "Content-Length: 5000"))
    api.clock.advance(LINGER_SECONDS * 10)
    assert not transport.aborted
    channel.writeConnectionLost()
    api.clock.advance(LINGER_SECONDS)
    assert transport.aborted


def test_a_client_that_shuts_its_side_is_closed(api):
    channel, transport = connect(api)
    channel.dataReceived(b"GET /heal")
    channel.readConnectionLost()
    assert transport.disconnecting


def test_a_client_that_closes_first_leaves_no_timer_behind():
    api = ApiHarness(max_request_bytes=1024)
    channel, transport = connect(api)
    channel.dataReceived(head("POST", "/jobs", "Content-Length: 5000"))
    channel.connectionLost(None)
    assert api.clock.getDelayedCalls() == []


# --- slow clients -------------------------------------------------------------------------


def trickle(api, channel, data, every):
    """One byte of C{data} each C{every} seconds."""
    for i in range(len(data)):
        channel.dataReceived(data[i:i + 1])
        api.clock.advance(every)


def test_headers_trickled_past_the_deadline_get_408_and_the_cut():
    api = ApiHarness(request_header_timeout=10)
    channel, transport = connect(api)
    trickle(api, channel, b"GET /healthz HTTP/1.1\r\nHost: a", every=1)
    [response] = answers(transport)
    assert (response.status, response.error()) == (408, "request_timeout")
    assert "headers" in response.json()["error"]["message"]
    assert closed(transport)


def test_a_body_trickled_past_the_deadline_gets_408_and_the_cut():
    api = ApiHarness(request_body_timeout=5)
    channel, transport = connect(api)
    channel.dataReceived(head("POST", "/jobs", "Content-Length: 100", "Content-Type: text/plain"))
    trickle(api, channel, b"http://e.com/", every=0.25)
    assert transport.value() == b""
    api.clock.advance(5 - 13 * 0.25)
    [response] = answers(transport)
    assert (response.status, response.error()) == (408, "request_timeout")
    assert "body" in response.json()["error"]["message"]
    assert closed(transport) and api.store.calls == []


def test_a_connection_that_sends_nothing_is_closed_without_an_answer():
    api = ApiHarness(request_header_timeout=3)
    _, transport = connect(api)
    api.clock.advance(3)
    assert transport.value() == b"" and closed(transport)


def test_a_prompt_client_keeps_its_connection_and_each_request_gets_the_full_time():
    api = ApiHarness(request_header_timeout=3)
    channel, transport = connect(api)
    for _ in range(3):
        api.clock.advance(2.5)
        channel.dataReceived(head("GET", "/healthz"))
    assert [r.status for r in answers(transport)] == [200, 200, 200]
    assert not closed(transport)
    api.clock.advance(3)
    assert closed(transport)
    assert len(answers(transport)) == 3


def test_a_slow_answer_is_not_a_slow_client():
    api = ApiHarness(request_header_timeout=1, request_body_timeout=1)
    api.store.ping_hangs = True
    channel, transport = connect(api)
    channel.dataReceived(head("GET", "/readyz"))
    api.clock.advance(1.5)
    assert transport.value() == b""
    api.clock.advance(0.5)
    assert answers(transport)[0].status == 503


# --- malformed HTTP -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 600 + b"\r\n",
], ids=["request-line", "header", "negative-length", "two-lengths", "chunk-size",
        "long-header", "long-request-line", "600-headers"])
def test_malformed_http_gets_a_json_400_and_the_cut(api, raw):
    channel, transport = connect(api)
    channel.dataReceived(raw)
    [response] = answers(transport)
    assert (response.status, response.error()) == (400, "bad_request")
    assert closed(transport)


# --- reason phrases -----------------------------------------------------------------------


@pytest.mark.parametrize(("status", "request_args"), [
    (422, ("POST", "/jobs", b'{"urls": ["ftp://e.com/"]}', JSON)),
    (413, ("POST", "/jobs", b"x" * 2_000_000, {})),
    (404, ("GET", "/nope", b"", {})),
])
def test_every_status_has_its_reason_phrase(api, status, request_args):
    method, path, body, headers = request_args
    _, transport = api.send(method, path, body, headers)
    phrase = HTTPStatus(status).phrase.encode()
    assert status_line(transport) == b"HTTP/1.1 %d %s" % (status, phrase)


# --- the job store does not answer --------------------------------------------------------


def hang(api, name):
    api.store.__dict__[name] = lambda *args: Deferred()


def test_a_job_store_that_hangs_is_a_503_after_the_store_timeout():
    api = ApiHarness(api_store_timeout=2)
    hang(api, "job")
    _, transport = api.send("GET", "/jobs/" + "a" * 32)
    api.clock.advance(1.9)
    assert transport.value() == b""
    api.clock.advance(0.1)
    [response] = answers(transport)
    assert (response.status, response.error()) == (503, "unavailable")
    assert response.header("retry-after") == "5"
    assert "2 s" in response.json()["error"]["message"]


def test_a_post_while_the_store_hangs_is_a_503(api):
    hang(api, "create")
    _, transport = api.send("POST", "/jobs", b"http://e.com/", {"Content-Type": "text/plain"})
    api.clock.advance(2)
    assert answers(transport)[0].error() == "unavailable"


@pytest.mark.parametrize("error", [txredisapi.ConnectionError("Not connected"),
                                   txredisapi.TimeoutError("no reply")])
def test_a_job_store_that_is_unreachable_is_a_503_at_once(api, error):
    api.store.__dict__["recent_jobs"] = lambda *args: fail(error)
    response = api.get("/jobs")
    assert (response.status, response.error()) == (503, "unavailable")
    assert "unreachable" in response.json()["error"]["message"]


def test_an_export_cut_short_by_the_store_ends_the_connection(api):
    job_id = api.crawled_job(images=1500)
    read = api.store.images
    calls = []

    def images(*args):
        calls.append(args)
        return read(*args) if len(calls) == 1 else Deferred()

    api.store.__dict__["images"] = images
    _, transport = api.send("GET", f"/jobs/{job_id}/images?format=txt")
    api.clock.advance(2)
    assert transport.disconnecting
    assert b"unavailable" not in transport.value()


def test_the_store_deadline_leaves_quick_answers_alone(api):
    api.store.__dict__["backlog"] = lambda: succeed({"leased": 0, "workers": 0})
    assert api.get("/readyz").status == 200
    assert api.clock.getDelayedCalls() == []


# --- tokens -------------------------------------------------------------------------------


@pytest.fixture
def tokens():
    return ApiHarness(api_token=("alpha", "beta", "gamma"))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("token", ["alpha", "beta", "gamma"])
def test_each_listed_token_is_accepted(tokens, token):
    assert tokens.get("/jobs", headers=bearer(token)).status == 200


@pytest.mark.parametrize("token", ["alph", "alphabeta", "alpha,beta", "", "ALPHA", "be ta"])
def test_a_token_not_in_the_list_is_401(tokens, token):
    assert tokens.get("/jobs", headers=bearer(token)).status == 401


def test_every_token_is_compared_every_time(tokens, monkeypatch):
    compared, real = [], hmac.compare_digest

    def spy(a, b):
        compared.append(len(a) == len(b) == 32)
        return real(a, b)

    monkeypatch.setattr(http.hmac, "compare_digest", spy)
    for token in ("alpha", "gamma", "nope"):
        tokens.get("/jobs", headers=bearer(token))
    assert compared == [True] * 9


def test_metrics_needs_a_token_when_tokens_are_on(tokens):
    response = tokens.get("/metrics")
    assert (response.status, response.error()) == (401, "unauthorized")
    assert tokens.get("/metrics", headers=bearer("beta")).status == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_stay_open(tokens, path):
    assert tokens.get(path).status == 200


def test_metrics_token_of_its_own():
    api = ApiHarness(api_token=("alpha",), metrics_token=("scrape",))
    assert api.get("/metrics", headers=bearer("scrape")).status == 200
    response = api.get("/metrics", headers=bearer("alpha"))
    assert response.status == 401 and "METRICS_TOKEN" in response.json()["error"]["message"]
    assert api.get("/jobs", headers=bearer("scrape")).status == 401


def test_metrics_token_alone_locks_only_metrics():
    api = ApiHarness(metrics_token=("scrape",))
    assert api.get("/metrics").status == 401
    assert api.get("/jobs").status == 200
