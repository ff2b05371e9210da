"""
Property tests (hypothesis) of request parsing: whatever bytes, content
type and query arrive, L{api.input.parse_submission} and the JSON bound
checks raise nothing but L{InputError}, and the API's Site answers anything
sent to it without a 500.  Bounded and derandomized, so that they run in
seconds and the same in CI every time; the C{@example}s are the corpus of
inputs that once failed (no answer, a 500, a RecursionError) or nearly did.
"""

import dataclasses
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher

from api.http import encode, error_body
from api.input import (MAX_JSON_DEPTH, OPTIONS, InputError, Submission, json_depth, load_json,
                       parse_submission)
from common.config import from_env
from tests.unit.test_resources import ApiHarness

CONFIG = dataclasses.replace(from_env({}), max_request_bytes=1024 * 1024)
BOUNDED = settings(max_examples=200, deadline=None, derandomize=True, database=None)

# Text that a JSON string or key may hold, tricky characters favoured.
_TRICKY = st.sampled_from(list('"\\[]{}/,:') + ["\ud800", "\udfff", "\U0001f600", "\x00", "é"])
_TEXT = st.text(st.one_of(_TRICKY, st.characters()), max_size=12)
_URLS = st.sampled_from(["http://e.com/", "https://a.example/x?y=1", "ftp://e.com/", "e.com",
                         "http://[2606:4700::1111]/", "http://e.com/\ud800", "http://", ""])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _TEXT, _URLS)
_KEYS = st.one_of(st.sampled_from(("urls", *OPTIONS)), _TEXT)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=24)


_CLOSING = {b"[": b"]", b'{"a":': b"}", b'{"a":[': b"]}"}


def _nested(depth, opening, closed):
    return opening * depth + (_CLOSING[opening] * depth if closed else b"")


_NESTINGS = st.builds(_nested, st.integers(0, 3000), st.sampled_from(sorted(_CLOSING)),
                      st.booleans())
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.lists(_URLS, max_size=5).map(lambda urls: " ".join(urls).encode("utf-8", "surrogatepass")),
    _NESTINGS,
)
CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(["application/json", "text/json; charset=utf-8", "text/plain", "",
                     "application/x-www-form-urlencoded", "application/xml", "JSON"]),
    st.text(max_size=20))
QUERIES = st.dictionaries(
    st.one_of(st.sampled_from(OPTIONS), st.text(max_size=5)),
    st.lists(st.one_of(_TEXT, st.integers().map(str), st.just("9" * 5000)), max_size=3),
    max_size=4)


def depth_of(value):
    """How deep a parsed JSON value nests, the slow and obvious way."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return 0
    return 1 + max(map(depth_of, value), default=0)


@BOUNDED
@given(CONTENT_TYPES, BODIES, QUERIES)
@example("application/json", b'{"\\ud800": 1}', {})
@example("application/json", b"[" * 990 + b"]" * 990, {})
@example("application/json", b"[" * 100_000, {})
@example("application/json", b'{"urls": ' + b"[" * 5000 + b'"', {})
@example("application/json", b'"' + b'\\"' * 50_000, {})
@example("application/json", b'{"urls": ["http://e.com/"], "max_pages": 1e400}', {})
@example("application/json", b'{"urls": ["http://e.com/"], "host_delay": NaN}', {})
@example("application/json", b"1" * 5000, {})
@example("application/json", b"\xef\xbb\xbf{}", {})
@example("application/json", b"\xed\xa0\x80", {})
@example("application/json", '{"urls": ["http://e.com/"]}'.encode("utf-16"), {})
@example("application/x-www-form-urlencoded", b"urls=http%3A%2F%2Fe.com%2F%ED%A0%80", {})
@example("text/plain", b"http://e.com/", {"max_depth": ["9" * 5000], "scope": ["\ud800"]})
@example("text/plain", b"x" * (1024 * 1024 + 1), {})
def test_parse_submission_raises_only_input_error(content_type, body, query):
    try:
        result = parse_submission(content_type, body, query, CONFIG)
    except InputError as e:
        assert 400 <= e.status < 500 and e.code
        assert len(e.message) < 2000
        encode(error_body(e.code, e.message))
    else:
        assert isinstance(result, Submission) and result.urls


@BOUNDED
@given(st.one_of(BODIES, JSON_VALUES.map(lambda v: json.dumps(v).encode())))
@example(b'[["\\\\"], "[", "\\"[", {"]": "{"}]')
@example(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
@example(b"NaN")
def test_load_json_raises_only_input_error_and_bounds_the_depth(body):
    try:
        value = load_json(body)
    except InputError as e:
        assert e.status == 400 and e.code in ("malformed_json", "json_too_deep")
        return
    assert json.dumps(value) == json.dumps(json.loads(body))  # NaN is not NaN
    assert depth_of(value) <= MAX_JSON_DEPTH


@BOUNDED
@given(JSON_VALUES)
@example([[[["\\"]]], "]]]"])
def test_json_depth_counts_as_the_parser_nests(value):
    assert json_depth(json.dumps(value, ensure_ascii=False)) == depth_of(value)


# --- the whole Site --------------------------------------------------------------------


_HARNESS = []


def harness():
    """One harness for every example: building a store per example costs more than the test."""
    if not _HARNESS:
        _HARNESS.append(ApiHarness(max_request_bytes=4096))
    return _HARNESS[0]


_LINES = st.sampled_from([
    b"Content-Type: application/json", b"Content-Type: text/plain", b"Content-Length: 5",
    b"Content-Length: 100000000000000000000", b"Content-Length: -1", b"Transfer-Encoding: chunked",
    b"Expect: 100-continue", b"Connection: close", b"Authorization: Bearer x", b"X: \xff",
])
REQUESTS = st.builds(
    lambda method, path, lines, body: b"%s %s HTTP/1.1\r\n%s\r\n\r\n%s" % (
        method, path, b"\r\n".join(lines), body),
    st.sampled_from([b"GET", b"POST", b"DELETE", b"HEAD", b"PUT", b"get", b""]),
    st.one_of(st.sampled_from([b"/jobs", b"/", b"/jobs/%s/images?cursor=%s" % (b"a" * 32, b"9" * 30),
                               b"/metrics", b"/job/x", b"/jobs?limit=%FF"]),
              st.binary(max_size=30)),
    st.lists(_LINES, max_size=4),
    st.one_of(BODIES, st.binary(max_size=50)))


def send(raw):
    """Send C{raw} on a new connection, let a minute pass; the bytes
    written back and the failures logged meanwhile."""
    api, failures = harness(), []

    def observe(event):
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        channel = api.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(raw)
        api.clock.advance(60)
        channel.connectionLost(None)
    finally:
        globalLogPublisher.removeObserver(observe)
    return transport.value(), failures


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.one_of(REQUESTS, st.binary(max_size=300)))
@example(b'POST /jobs HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n'
         b'{"\\ud800": 1}')
@example(b"GET /jobs?cursor=9223372036854775807 HTTP/1.1\r\n\r\n")
@example(b"POST /jobs HTTP/1.1\r\nContent-Length: 100000000000000000000\r\n\r\n")
@example(b"POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n" + b"a" * 5000)
def test_the_site_answers_anything_without_a_500(raw):
    answer, failures = send(raw)
    if answer:
        assert answer.startswith(b"HTTP/1.1 "), answer[:100]
        assert int(answer[9:12]) < 500, answer[:300]
    assert failures == []
