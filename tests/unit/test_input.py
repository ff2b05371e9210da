"""Unit tests for api.input: every accepted body shape and every refusal."""

import dataclasses
import json

import pytest

from api.input import (MAX_JSON_DEPTH, InputError, Submission, json_depth, media_type,
                       parse_submission)
from api.callbacks import callback_options
from common.config import from_env

CONFIG = from_env({})
FORM = "application/x-www-form-urlencoded"
# The options a test does not set, by their defaults: politeness, crawl
# controls, webhooks (api/callbacks.py, tested there).
POLITENESS = {"host_concurrency": CONFIG.host_concurrency, "host_delay": CONFIG.host_delay_seconds,
              "include": [], "exclude": [], "sitemaps": False, "obey_nofollow": True,
              **callback_options({}, CONFIG)}
DEFAULTS = {"max_depth": 1, "scope": "host", "max_pages": CONFIG.default_max_pages, **POLITENESS}


def submit(body, content_type="application/json", query=None, config=CONFIG):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return parse_submission(content_type, body, query or {}, config)


def refused(body, content_type="application/json", query=None, config=CONFIG):
    with pytest.raises(InputError) as info:
        submit(body, content_type, query, config)
    return info.value


def with_limits(**changes):
    return dataclasses.replace(CONFIG, **changes)


# --- media types ------------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    ("application/json", "application/json"),
    ("Application/JSON; charset=UTF-8", "application/json"),
    (" text/plain ;charset=utf-8", "text/plain"),
    ("", ""),
    (None, ""),
])
def test_media_type(header, expected):
    assert media_type(header) == expected


# --- JSON -----------------------------------------------------------------------------


def test_json_object_with_defaults():
    result = submit({"urls": ["http://example.com/a", "https://example.com/b"]})
    assert result == Submission(["http://example.com/a", "https://example.com/b"], DEFAULTS)


def test_json_object_with_every_option():
    result = submit({"urls": ["http://example.com/"], "max_depth": 0, "scope": "any",
                     "max_pages": 5})
    assert result.options == {"max_depth": 0, "scope": "any", "max_pages": 5, **POLITENESS}


@pytest.mark.parametrize("scope", ["host", "domain", "any"])
def test_every_scope(scope):
    assert submit({"urls": ["http://example.com/"], "scope": scope}).options["scope"] == scope


def test_json_urls_may_be_a_single_string():
    assert submit({"urls": "http://example.com/"}).urls == ["http://example.com/"]


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "text/json", "APPLICATION/JSON"])
def test_json_content_types(content_type):
    assert submit({"urls": ["http://e.com/"]}, content_type).urls == ["http://e.com/"]


def test_json_list_takes_options_from_the_query():
    result = submit(["http://example.com/", "http://example.com/b"],
                    query={"max_depth": ["2"], "scope": ["domain"], "max_pages": ["7"]})
    assert result == Submission(["http://example.com/", "http://example.com/b"],
                                {"max_depth": 2, "scope": "domain", "max_pages": 7, **POLITENESS})


def test_politeness_options_in_the_json_body():
    result = submit({"urls": ["http://e.com/"], "host_concurrency": 2, "host_delay": 0.5})
    assert result.options["host_concurrency"] == 2
    assert result.options["host_delay"] == 0.5


def test_politeness_options_in_the_query_of_a_text_body():
    result = submit(b"http://e.com/", "text/plain",
                    query={"host_concurrency": ["1"], "host_delay": ["2.5"]})
    assert (result.options["host_concurrency"], result.options["host_delay"]) == (1, 2.5)


def test_politeness_options_in_a_form_body():
    result = submit(b"urls=http://e.com/&host_delay=1", "application/x-www-form-urlencoded")
    assert result.options["host_delay"] == 1.0


@pytest.mark.parametrize(("name", "value"), [
    ("host_concurrency", 0), ("host_concurrency", CONFIG.max_host_concurrency + 1),
    ("host_concurrency", 1.5), ("host_concurrency", "two"), ("host_concurrency", True),
    ("host_delay", -1), ("host_delay", "soon"), ("host_delay", 3601), ("host_delay", None),
    ("host_delay", float("nan")), ("host_delay", float("inf")), ("host_delay", False),
])
def test_bad_politeness_options_are_named(name, value):
    with pytest.raises(InputError) as raised:
        submit({"urls": ["http://e.com/"], name: value})
    assert raised.value.status == 422 and name in raised.value.message


def test_politeness_defaults_come_from_the_config():
    config = dataclasses.replace(CONFIG, host_concurrency=2, host_delay_seconds=1.5)
    result = submit({"urls": ["http://e.com/"]}, config=config)
    assert (result.options["host_concurrency"], result.options["host_delay"]) == (2, 1.5)


def test_urls_are_normalised():
    result = submit({"urls": ["HTTP://Example.COM:80", "https://b\u00fccher.example/#top"]})
    assert result.urls == ["http://example.com/", "https://xn--bcher-kva.example/"]


def test_options_may_be_numeric_strings():
    result = submit({"urls": ["http://e.com/"], "max_depth": "2", "max_pages": " 30 "})
    assert result.options["max_depth"] == 2
    assert result.options["max_pages"] == 30


# --- options: query and body ----------------------------------------------------------


def test_options_from_the_query_fill_in_for_a_json_object():
    result = submit({"urls": ["http://e.com/"]}, query={"max_depth": ["0"], "scope": ["any"]})
    assert result.options == {**DEFAULTS, "max_depth": 0, "scope": "any"}


def test_the_body_wins_over_the_query():
    result = submit({"urls": ["http://e.com/"], "max_depth": 3, "scope": "host"},
                    query={"max_depth": ["0"], "scope": ["any"], "max_pages": ["9"]})
    assert result.options == {"max_depth": 3, "scope": "host", "max_pages": 9, **POLITENESS}


def test_the_last_query_value_counts():
    assert submit(["http://e.com/"], query={"max_depth": ["0", "2"]}).options["max_depth"] == 2


def test_unknown_query_parameters_are_ignored():
    result = submit(["http://e.com/"], query={"cursor": ["3"], "max_depth": []})
    assert result.options == DEFAULTS


def test_default_max_pages_comes_from_the_config():
    config = with_limits(default_max_pages=3)
    assert submit(["http://e.com/"], config=config).options["max_pages"] == 3


# --- text bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", FORM, "", None])
def test_text_whitespace_separated(content_type):
    body = b"http://example.com/a http://example.com/b\n\thttp://example.com/c\r\n"
    result = parse_submission(content_type, body, {}, CONFIG)
    assert result == Submission(
        ["http://example.com/a", "http://example.com/b", "http://example.com/c"], DEFAULTS)


def test_curl_data_at_file_urls_run_together():
    # `curl -d @urls.txt` drops the newlines of the file
    body = b"http://example.com/ahttps://example.com/b?q=1http://other.example/c"
    result = submit(body, FORM)
    assert result.urls == ["http://example.com/a", "https://example.com/b?q=1",
                           "http://other.example/c"]


def test_a_url_inside_a_query_value_is_not_split_off():
    body = b"http://example.com/login?next=http://example.com/home"
    assert submit(body, FORM).urls == ["http://example.com/login?next=http://example.com/home"]


def test_newline_separated_form_body():
    body = b"http://example.com/a\nhttp://example.com/b\n"
    assert submit(body, FORM).urls == ["http://example.com/a", "http://example.com/b"]


def test_text_options_come_from_the_query():
    result = submit(b"http://e.com/", "text/plain",
                    query={"max_depth": ["0"], "scope": ["any"], "max_pages": ["2"]})
    assert result.options == {"max_depth": 0, "scope": "any", "max_pages": 2, **POLITENESS}


def test_urls_form_field():
    body = b"urls=http%3A%2F%2Fexample.com%2Fa%20http%3A%2F%2Fexample.com%2Fb&urls=http://c.example/"
    result = submit(body, FORM)
    assert result.urls == ["http://example.com/a", "http://example.com/b", "http://c.example/"]


def test_urls_form_field_with_newlines_and_run_together():
    body = b"urls=http%3A%2F%2Fa.example%2F%0Ahttp%3A%2F%2Fb.example%2Fhttp%3A%2F%2Fc.example%2F"
    assert submit(body, FORM).urls == ["http://a.example/", "http://b.example/", "http://c.example/"]


def test_urls_form_field_need_not_come_first():
    # `curl -d max_depth=0 -d urls=http://...` sends "max_depth=0&urls=..."
    result = submit(b"max_depth=0&urls=http://example.com/", FORM)
    assert result.urls == ["http://example.com/"]
    assert result.options["max_depth"] == 0


def test_options_in_a_form_body():
    result = submit(b"urls=http://example.com/&max_depth=0&max_pages=2&scope=any", FORM)
    assert result.options == {"max_depth": 0, "scope": "any", "max_pages": 2, **POLITENESS}


def test_form_body_options_win_over_the_query():
    result = submit(b"urls=http://example.com/&max_depth=0", FORM,
                    query={"max_depth": ["3"], "max_pages": ["4"]})
    assert result.options == {"max_depth": 0, "scope": "host", "max_pages": 4, **POLITENESS}


def test_bad_option_in_a_form_body_is_422():
    error = refused(b"urls=http://example.com/&max_depth=deep", FORM)
    assert (error.status, error.code) == (422, "bad_option")


def test_a_url_list_is_not_taken_for_a_form():
    # a URL whose query has "urls=" is still a URL, not a form field
    result = submit(b"http://example.com/?urls=1 http://example.com/b", FORM)
    assert result.urls == ["http://example.com/?urls=1", "http://example.com/b"]


# --- dedup and caps -----------------------------------------------------------------


def test_duplicates_are_dropped_after_normalisation_keeping_order():
    result = submit({"urls": ["http://e.com/b", "http://E.com:80/b", "http://e.com/a",
                              "http://e.com/b#x"]})
    assert result.urls == ["http://e.com/b", "http://e.com/a"]


def test_start_urls_are_capped_at_max_pages():
    urls = [f"http://e.com/{i}" for i in range(10)]
    result = submit({"urls": urls, "max_pages": 3})
    assert result.urls == urls[:3]
    assert result.options["max_pages"] == 3


def test_cap_applies_after_dedup():
    result = submit({"urls": ["http://e.com/a", "http://e.com/a", "http://e.com/b"],
                     "max_pages": 2})
    assert result.urls == ["http://e.com/a", "http://e.com/b"]


def test_exactly_max_start_urls_is_fine():
    config = with_limits(max_start_urls=3)
    assert len(submit([f"http://e.com/{i}" for i in range(3)], config=config).urls) == 3


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b"", b"{'urls': []}", b"\xff\xfe\x00", b"nul"])
def test_malformed_json_is_400(body):
    error = refused(body)
    assert (error.status, error.code) == (400, "malformed_json")


@pytest.mark.parametrize("body", [b'"http://e.com/"', b"1", b"null", b"true"])
def test_json_that_is_neither_object_nor_list_is_400(body):
    error = refused(body)
    assert (error.status, error.code) == (400, "malformed_json")


def test_text_that_is_not_utf8_is_400():
    error = refused(b"http://e.com/\xff", "text/plain")
    assert (error.status, error.code) == (400, "bad_encoding")


@pytest.mark.parametrize("content_type", [
    "application/xml", "multipart/form-data; boundary=x", "text/html", "application/ld+json",
    "image/png"])
def test_unknown_media_type_is_415(content_type):
    error = refused({"urls": ["http://e.com/"]}, content_type)
    assert (error.status, error.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize("url", [
    "example.com", "ftp://example.com/", "javascript:alert(1)", "mailto:a@example.com",
    "http://", "https://exa mple.com/", "data:image/png;base64,AA==", "file:///etc/passwd",
    "http://e.com:99999/", "http://" + "a" * 2100 + ".com/"])
def test_invalid_url_is_422(url):
    error = refused({"urls": ["http://fine.example/", url]})
    assert (error.status, error.code) == (422, "invalid_url")
    assert "1 invalid URL(s)" in error.message


def test_non_http_scheme_is_named():
    error = refused({"urls": ["ftp://example.com/"]})
    assert (error.status, error.code) == (422, "invalid_url")
    assert "ftp" in error.message


def test_non_string_url_is_422():
    error = refused({"urls": ["http://e.com/", 7, None]})
    assert (error.status, error.code) == (422, "invalid_url")
    assert "2 invalid URL(s)" in error.message


def test_many_invalid_urls_are_summarised():
    error = refused({"urls": [f"bad{i}" for i in range(15)]})
    assert "15 invalid URL(s)" in error.message
    assert error.message.endswith("; ...")
    assert "bad9" in error.message and "bad10" not in error.message


def test_invalid_url_in_a_text_body_is_422():
    error = refused(b"http://e.com/ gopher://e.com/", "text/plain")
    assert (error.status, error.code) == (422, "invalid_url")


@pytest.mark.parametrize(("body", "content_type"), [
    ({"urls": []}, "application/json"),
    ([], "application/json"),
    (b"", "text/plain"),
    (b"  \n\t ", FORM),
    (b"urls=", FORM),
])
def test_no_urls_is_422(body, content_type):
    error = refused(body, content_type)
    assert (error.status, error.code) == (422, "no_urls")


@pytest.mark.parametrize("body", [{}, {"max_depth": 1}, {"urls": None}, {"urls": {"a": 1}},
                                  {"urls": 5}])
def test_missing_or_malformed_urls_field_is_422(body):
    error = refused(body)
    assert (error.status, error.code) == (422, "no_urls")


def test_too_many_urls_is_422():
    config = with_limits(max_start_urls=2)
    error = refused([f"http://e.com/{i}" for i in range(3)], config=config)
    assert (error.status, error.code) == (422, "too_many_urls")
    assert "at most 2" in error.message


def test_too_many_urls_in_a_text_body_is_422():
    config = with_limits(max_start_urls=1)
    error = refused(b"http://e.com/a http://e.com/b", "text/plain", config=config)
    assert (error.status, error.code) == (422, "too_many_urls")


@pytest.mark.parametrize("options", [
    {"max_depth": -1},
    {"max_depth": 1001},
    {"max_depth": 1.5},
    {"max_depth": True},
    {"max_depth": "two"},
    {"max_depth": [1]},
    {"max_pages": 0},
    {"max_pages": 100_001},
    {"max_pages": "5 pages"},
    {"scope": "world"},
    {"scope": None},
    {"scope": "HOST"},
])
def test_bad_option_is_422(options):
    error = refused({"urls": ["http://e.com/"], **options})
    assert (error.status, error.code) == (422, "bad_option")
    assert next(iter(options)) in error.message


@pytest.mark.parametrize("query", [{"max_depth": ["x"]}, {"max_pages": ["0"]}, {"scope": ["sub"]}])
def test_bad_option_from_the_query_is_422(query):
    error = refused(["http://e.com/"], query=query)
    assert (error.status, error.code) == (422, "bad_option")


def test_option_limits_come_from_the_config():
    config = with_limits(max_depth_limit=2, max_pages_limit=50, default_max_pages=10)
    assert submit({"urls": ["http://e.com/"], "max_depth": 2, "max_pages": 50},
                  config=config).options == {"max_depth": 2, "scope": "host", "max_pages": 50, **POLITENESS}
    assert refused({"urls": ["http://e.com/"], "max_depth": 3}, config=config).code == "bad_option"
    assert refused({"urls": ["http://e.com/"], "max_pages": 51}, config=config).code == "bad_option"


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9", "\u0661", "1e3", ""])
def test_odd_numeric_option_is_a_clean_422(value):
    with pytest.raises(InputError) as info:
        submit(["http://e.com/"], query={"max_depth": [value]})
    assert (info.value.status, info.value.code) == (422, "bad_option")


@pytest.mark.parametrize("field", ["depth", "URLS", "callback"])
def test_unknown_field_is_422(field):
    error = refused({"urls": ["http://e.com/"], field: 1})
    assert (error.status, error.code) == (422, "unknown_field")
    assert field in error.message


def test_unknown_fields_are_listed_sorted():
    error = refused({"urls": ["http://e.com/"], "zeta": 1, "alpha": 2})
    assert "alpha, zeta" in error.message


def test_media_type_is_checked_before_the_options():
    error = refused(b"x", "application/xml", query={"max_depth": ["-1"]})
    assert error.status == 415


def test_input_error_carries_status_code_and_message():
    error = InputError(422, "no_urls", "no URL given")
    assert (error.status, error.code, error.message) == (422, "no_urls", "no URL given")
    assert isinstance(error, Exception)


# --- JSON bounds ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[", "\\"[{"]', 1),
    ('["\\\\", ["x"]]', 2), ("[[]][[[]]]", 3), ('"[', 0), ("[" * 5, 5),
])
def test_json_depth_is_counted_outside_strings(text, depth):
    assert json_depth(text) == depth


def test_json_at_the_depth_bound_is_parsed_deeper_is_400():
    inner = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert refused(f'{{"urls": {inner}}}'.encode()).code == "invalid_url"
    deeper = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    error = refused(f'{{"urls": {deeper}}}'.encode())
    assert (error.status, error.code) == (400, "json_too_deep")


@pytest.mark.parametrize("body", [b'{"\\ud800": 1}', b'["\\udfff"]', b'{"urls": ["\\ud83d"]}'])
def test_a_lone_surrogate_is_400(body):
    error = refused(body)
    assert (error.status, error.code) == (400, "malformed_json") and "surrogate" in error.message


def test_json_must_be_utf8():
    error = refused('{"urls": ["http://e.com/"]}'.encode("utf-16"))
    assert (error.status, error.code) == (400, "malformed_json") and "UTF-8" in error.message


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_body_over_the_cap_is_413_whatever_its_type(content_type):
    config = with_limits(max_request_bytes=1024)
    error = refused(b"[" + b" " * 1024 + b"]", content_type, config=config)
    assert (error.status, error.code) == (413, "body_too_large")


def test_values_in_messages_are_cut_short():
    error = refused({"urls": ["http://e.com/"], "max_depth": "9" * 10_000})
    assert error.code == "bad_option" and len(error.message) < 200


# --- crawl controls: depth, include/exclude, sitemaps, obey_nofollow -------------------


def test_null_max_depth_is_no_limit():
    assert submit({"urls": ["http://e.com/"], "max_depth": None}).options["max_depth"] is None


@pytest.mark.parametrize("value", ["none", "None", " NONE "])
def test_none_in_a_query_is_no_depth_limit(value):
    result = submit(b"http://e.com/", "text/plain", query={"max_depth": [value]})
    assert result.options["max_depth"] is None


def test_max_depth_up_to_the_ceiling():
    assert submit({"urls": ["http://e.com/"], "max_depth": 1000}).options["max_depth"] == 1000
    error = refused({"urls": ["http://e.com/"], "max_depth": 1001})
    assert (error.code, "max_depth" in error.message) == ("bad_option", True)


def test_patterns_from_json_and_from_a_repeated_query():
    result = submit({"urls": ["http://e.com/"], "include": ["/blog/"], "exclude": "/tag/"})
    assert (result.options["include"], result.options["exclude"]) == (["/blog/"], ["/tag/"])
    result = submit(b"http://e.com/", "text/plain",
                    query={"include": ["/a/", "/b/"], "exclude": [r"\.pdf$"]})
    assert (result.options["include"], result.options["exclude"]) == (["/a/", "/b/"], [r"\.pdf$"])


def test_patterns_in_a_form_body():
    result = submit(b"urls=http://e.com/&include=/a/&include=/b/&sitemaps=yes", FORM)
    assert result.options["include"] == ["/a/", "/b/"] and result.options["sitemaps"] is True


@pytest.mark.parametrize(("patterns", "named"), [
    ([r"(a)\1"], r"(a)\\1"),              # a backreference: RE2 has none
    (["a(?=b)"], "a(?=b)"),                # lookahead
    (["[unclosed"], "[unclosed"),
])
def test_a_pattern_re2_cannot_compile_is_422_naming_it(patterns, named):
    error = refused({"urls": ["http://e.com/"], "exclude": patterns})
    assert (error.status, error.code) == (422, "bad_option")
    assert "exclude" in error.message and named in error.message


def test_too_many_or_too_long_patterns_are_422():
    config = with_limits(max_patterns=2, max_pattern_length=10)
    error = refused({"urls": ["http://e.com/"], "include": ["a", "b", "c"]}, config=config)
    assert error.code == "bad_option" and "at most 2" in error.message
    error = refused({"urls": ["http://e.com/"], "include": ["a" * 11]}, config=config)
    assert error.code == "bad_option" and "at most 10" in error.message


@pytest.mark.parametrize("value", [[1], {"a": 1}, 5, [None]])
def test_patterns_must_be_strings(value):
    assert refused({"urls": ["http://e.com/"], "include": value}).code == "bad_option"


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("1", True), ("yes", True), ("TRUE", True),
    ("false", False), ("0", False), ("no", False),
])
def test_booleans_as_text(raw, expected):
    result = submit(b"http://e.com/", "text/plain", query={"sitemaps": [raw], "obey_nofollow": [raw]})
    assert (result.options["sitemaps"], result.options["obey_nofollow"]) == (expected, expected)


@pytest.mark.parametrize("value", ["maybe", 1, 0, None, [True]])
def test_bad_booleans_are_422_naming_the_option(value):
    error = refused({"urls": ["http://e.com/"], "obey_nofollow": value})
    assert (error.code, error.message.startswith("obey_nofollow")) == ("bad_option", True)
