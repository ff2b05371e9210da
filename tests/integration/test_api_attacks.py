"""
The API attack suite: the requests of issue 9 against the real
C{python -m api}, over real sockets (raw ones for malformed HTTP and slow
clients), with its own redis-server.

Each attack must get its answer, a 4xx (or the 503 of a Redis that is
down), within a generous bound (L{ANSWER_WITHIN}); nothing here measures
how fast beyond that.  The deadlines are set short in the API's
environment so that the slow-client tests take seconds.
"""

import json
import select
import socket
import time
from http import HTTPStatus

import pytest

from tests.stack import RedisServer, Stack
from tests.wait import wait_for

ANSWER_WITHIN = 10
MAX_BYTES = 65536
SETTINGS = dict(MAX_REQUEST_BYTES=MAX_BYTES, REQUEST_HEADER_TIMEOUT=1, REQUEST_BODY_TIMEOUT=2,
                API_STORE_TIMEOUT=1, API_TOKEN="alpha, beta")
AUTH = "Authorization: Bearer alpha"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    """One API for the attacks that leave it as it was."""
    workdir = tmp_path_factory.mktemp("attacks")
    tokens = workdir / "tokens"
    tokens.write_text("# callers from the file\ngamma\n")
    redis = RedisServer(workdir).start()
    api = Stack(workdir, redis, API_TOKENS_FILE=str(tokens), **SETTINGS)
    try:
        api.start_api()
        yield api
    finally:
        api.stop()
        redis.stop()
        if request.session.testsfailed:
            print(api.logs())


# --- raw HTTP -----------------------------------------------------------------------------


def request_bytes(method, path, *headers, body=b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: api.test", "Connection: close", *headers]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def read_to_close(sock, within=ANSWER_WITHIN):
    """Everything the server sends until it closes; fails if it does not close in time."""
    deadline, chunks = time.monotonic() + within, []
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"no close within {within} s; got {b''.join(chunks)[:300]!r}")
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def exchange(stack, data):
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(data)
        return read_to_close(sock)


def status_of(raw):
    assert raw.startswith(b"HTTP/1.1 "), raw[:300]
    return int(raw[9:12])


def error_of(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return status_of(raw), json.loads(body)["error"]["code"]


def bearer(token="alpha"):
    return {"Authorization": f"Bearer {token}"}


def timed(call):
    """C{call()}'s result, asserted to come within L{ANSWER_WITHIN} seconds."""
    start = time.monotonic()
    result = call()
    assert time.monotonic() - start < ANSWER_WITHIN
    return result


# --- bad requests --------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "code"), [
    (b'{"\\ud800": 1}', "malformed_json"),
    (b"[" * 990 + b"]" * 990, "json_too_deep"),
    (b"[" * 50_000, "json_too_deep"),
    (b'{"urls": ["ftp://e.com/"]}', "invalid_url"),
], ids=["lone-surrogate", "990-deep", "50000-unclosed", "bad-url"])
def test_bad_json_gets_its_4xx(stack, body, code):
    raw = timed(lambda: exchange(stack, request_bytes(
        "POST", "/jobs", AUTH, "Content-Type: application/json", f"Content-Length: {len(body)}",
        body=body)))
    status, got = error_of(raw)
    assert 400 <= status < 500 and got == code


def test_422_has_its_reason_phrase(stack):
    body = b'{"urls": ["ftp://e.com/"]}'
    raw = exchange(stack, request_bytes("POST", "/jobs", AUTH, "Content-Type: application/json",
                                        f"Content-Length: {len(body)}", body=body))
    assert raw.startswith(b"HTTP/1.1 422 %s\r\n" % HTTPStatus(422).phrase.encode())


@pytest.mark.parametrize("query", ["cursor=9223372036854775807", "limit=99999999999999999999",
                                   "cursor=-1", "cursor=%D9%A1"])
def test_out_of_range_cursors_are_400(stack, query):
    status, job = stack.client.json("POST", "/jobs", {"urls": ["http://e.com/"]}, headers=bearer())
    assert status == 201, job
    for path in ("/jobs", f"/jobs/{job['id']}/images", f"/jobs/{job['id']}/pages"):
        status, body = stack.client.json("GET", f"{path}?{query}", headers=bearer())
        assert (status, body["error"]["code"]) == (400, "bad_cursor"), path


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nNo colon\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
    b"POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["request-line", "header", "long-line", "chunk-size"])
def test_malformed_http_gets_a_json_400(stack, raw):
    assert error_of(timed(lambda: exchange(stack, raw))) == (400, "bad_request")


# --- the body cap ---------------------------------------------------------------------------


def test_a_content_length_of_10_to_the_20_is_413_at_once(stack):
    head = request_bytes("POST", "/jobs", AUTH, "Content-Length: " + str(10**20))
    raw = timed(lambda: exchange(stack, head))  # no body sent: the server closes anyway
    assert error_of(raw) == (413, "body_too_large")


def test_a_chunked_body_over_the_cap_is_413_before_its_end(stack):
    chunk = b"%x\r\n%s\r\n" % (4096, b"a" * 4096)
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(request_bytes("POST", "/jobs", AUTH, "Content-Type: text/plain",
                                   "Transfer-Encoding: chunked"))
        sock.sendall(chunk * (MAX_BYTES // 4096 + 1))  # no last chunk: the body never ends
        raw = timed(lambda: read_to_close(sock))
    assert error_of(raw) == (413, "body_too_large")


def test_a_client_that_sends_all_of_a_big_body_still_reads_its_413(stack):
    body = b"x" * (8 * MAX_BYTES)
    raw = timed(lambda: exchange(stack, request_bytes(
        "POST", "/jobs", AUTH, f"Content-Length: {len(body)}", body=body)))
    assert error_of(raw) == (413, "body_too_large")


# --- slow clients ---------------------------------------------------------------------------


def trickle(stack, data, every=0.3):
    """Send C{data} a byte every C{every} seconds until the server answers and
    closes; what it sent.  Fails if it has not closed within ANSWER_WITHIN."""
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=ANSWER_WITHIN) as sock:
        deadline = time.monotonic() + ANSWER_WITHIN
        for i in range(len(data)):
            if select.select([sock], [], [], every)[0] or time.monotonic() > deadline:
                break
            sock.send(data[i:i + 1])
        return read_to_close(sock, max(0.01, deadline - time.monotonic()))


def test_headers_trickled_in_are_cut_off_with_408(stack):
    raw = trickle(stack, b"GET /healthz HTTP/1.1\r\nHost: api.test\r\nX-Slow: " + b"z" * 100)
    assert error_of(raw) == (408, "request_timeout")


def test_a_body_trickled_in_is_cut_off_with_408(stack):
    head = request_bytes("POST", "/jobs", AUTH, "Content-Type: text/plain", "Content-Length: 200")
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + ANSWER_WITHIN
        while not select.select([sock], [], [], 0.3)[0] and time.monotonic() < deadline:
            sock.send(b"h")
        raw = read_to_close(sock, max(0.01, deadline - time.monotonic()))
    assert error_of(raw) == (408, "request_timeout")


def test_a_connection_that_sends_nothing_is_closed(stack):
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=ANSWER_WITHIN) as sock:
        assert timed(lambda: read_to_close(sock)) == b""


# --- tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["alpha", "beta", "gamma"])
def test_each_token_of_the_list_and_the_file_is_accepted(stack, token):
    assert stack.client.request("GET", "/jobs", headers=bearer(token))[0] == 200


@pytest.mark.parametrize("token", ["alpha,beta", "delta", "# callers from the file"])
def test_other_tokens_are_refused(stack, token):
    assert stack.client.request("GET", "/jobs", headers=bearer(token))[0] == 401


def test_metrics_needs_a_token_and_the_probes_do_not(stack):
    assert stack.client.request("GET", "/metrics")[0] == 401
    assert stack.client.request("GET", "/metrics", headers=bearer("gamma"))[0] == 200
    for probe in ("/healthz", "/readyz"):
        assert stack.client.request("GET", probe)[0] == 200


def test_metrics_token_of_its_own(make_stack):
    stack = make_stack(workers=0, API_TOKEN="alpha", METRICS_TOKEN="scrape")
    assert stack.client.request("GET", "/metrics", headers=bearer("scrape"))[0] == 200
    assert stack.client.request("GET", "/metrics", headers=bearer("alpha"))[0] == 401
    assert stack.client.request("GET", "/jobs", headers=bearer("scrape"))[0] == 401


# --- Redis down ----------------------------------------------------------------------------------


def test_with_redis_down_the_api_answers_503_and_recovers(make_stack, redis_server):
    stack = make_stack(workers=0, API_STORE_TIMEOUT=1)
    job_id = stack.client.submit(["http://e.com/"])
    redis_server.stop()
    for method, path, body in (("POST", "/jobs", {"urls": ["http://e.com/b"]}),
                               ("GET", f"/jobs/{'f' * 32}", None),
                               ("GET", "/jobs", None)):
        status, headers, raw = timed(lambda: stack.client.request(method, path, body))
        assert (status, json.loads(raw)["error"]["code"]) == (503, "unavailable"), path
        assert int(headers["Retry-After"]) > 0
    assert timed(lambda: stack.client.request("GET", "/readyz"))[0] == 503

    redis_server.start()
    wait_for(lambda: stack.client.request("GET", f"/jobs/{job_id}")[0] == 200, 30,
             "the job to be readable again")
    assert stack.client.json("POST", "/jobs", {"urls": ["http://e.com/c"]})[0] == 201
