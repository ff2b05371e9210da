"""
Turn a job submission into start URLs and options, or a precise error.

Pure functions over the request's parts, so every rule has a plain test.
Accepted bodies:
  - JSON: C{{"urls": [...], "max_depth": 1, "scope": "host", "max_pages": 1000}}
    or a bare JSON list of URLs;
  - text (C{text/plain}, curl's default form encoding, or no content type):
    URLs separated by white space, or run together as C{curl -d @file}
    sends them; a form field C{urls=...} is understood too.
Options may also come as query parameters; the body wins.  In a query or
form, a list option repeats (C{include=a&include=b}), a boolean is
true/false/1/0/yes/no and C{max_depth=none} means no depth limit (JSON null).

Any body is within C{MAX_REQUEST_BYTES}.  JSON is checked before it is
parsed: UTF-8 (RFC 8259), nested no deeper than L{MAX_JSON_DEPTH} (Python's
parser recurses, and deep nesting ends in a RecursionError); and after:
no lone surrogate (C{"\\ud800"}), which no URL or name can hold and UTF-8
cannot carry back in a message.
"""

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from urllib.parse import parse_qs

from api.callbacks import CallbackOptionError, callback_options
from common.patterns import PatternError, check
from common.urls import SCOPES, InvalidURL, check_start_url, split_url_list

OPTIONS = ("max_depth", "scope", "max_pages", "host_concurrency", "host_delay",
           "include", "exclude", "sitemaps", "obey_nofollow",
           "callback_url", "callback_events", "callback_every_pages")
# Options that may repeat in a query or form (include=a&include=b): lists.
LIST_OPTIONS = ("include", "exclude", "callback_events")
# A longer pause between two fetches of a site is no crawl at all.
MAX_HOST_DELAY = 3600
_TEXT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "")
_JSON_TYPES = ("application/json", "text/json")
_FORM_FIELD = re.compile(r"\s*(urls|" + "|".join(OPTIONS) + ")=")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
# A submission nests two deep; the bound leaves room and stays far below
# the recursion limit.
MAX_JSON_DEPTH = 64
# A string runs to its closing quote, or to the end when it has none: a
# pattern that could fail would be tried again from every later quote, in
# quadratic time on text such as '"\\"\\"\\"...'.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}
# Values quoted in messages are cut to this many characters.
_SHOWN = 60


@dataclass(frozen=True)
class InputError(Exception):
    """A bad submission: HTTP status, a stable code, and a message for people."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Submission:
    urls: list
    options: dict


def media_type(content_type):
    """C{"Text/Plain; charset=x"} -> C{"text/plain"}; missing -> C{""}."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _shown(value):
    """C{repr(value)}, cut short: a message need not echo a megabyte back."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def json_depth(text):
    """
    How deep the arrays and objects of JSON C{text} nest, counted without
    parsing: strings dropped, then the running sum of opening (+1) and
    closing (-1) brackets, all in C loops.  Malformed text gets a number
    too; the parser refuses it afterwards.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def load_json(body):
    """
    The JSON value in C{body} (bytes), checked before and after parsing.

    @raise InputError: 400 naming the problem.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(400, "malformed_json", "a JSON body must be UTF-8") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise InputError(400, "json_too_deep", f"the JSON body nests deeper than {MAX_JSON_DEPTH}")
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InputError(400, "malformed_json", f"the body is not valid JSON: {e}") from None
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(400, "malformed_json", "the JSON body holds a lone surrogate (\\ud800 to "
                         "\\udfff without its pair)") from None
    return data


def _from_json(body):
    data = load_json(body)
    if isinstance(data, list):
        return data, {}
    if not isinstance(data, dict):
        raise InputError(400, "malformed_json", "the JSON body must be an object or a list of URLs")
    unknown = sorted(set(data) - {"urls", *OPTIONS})
    if unknown:
        raise InputError(422, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    urls = data.get("urls")
    if urls is None:
        raise InputError(422, "no_urls", 'the JSON body needs a "urls" list')
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list):
        raise InputError(422, "no_urls", '"urls" must be a list of strings')
    return urls, {k: data[k] for k in OPTIONS if k in data}


def _from_text(body):
    """URLs (and, for a form such as C{urls=...&max_depth=0}, options)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(400, "bad_encoding", "a text body must be UTF-8") from None
    if not _FORM_FIELD.match(text):
        return split_url_list(text), {}
    fields = parse_qs(text.strip())
    urls = [u for value in fields.get("urls", []) for u in split_url_list(value)]
    return urls, from_fields(fields)


def from_fields(fields):
    """Options from a query or form, C{{name: [values]}}: the last value
    of each, or every value of a list option."""
    return {k: v if k in LIST_OPTIONS else v[-1] for k, v in fields.items() if k in OPTIONS and v}


def _integer(name, value, low, high):
    if isinstance(value, str) and value.strip().lstrip("-").isascii():
        try:
            value = int(value)
        except ValueError:
            pass
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(422, "bad_option", f"{name} must be an integer, got {_shown(value)}")
    if not low <= value <= high:
        raise InputError(422, "bad_option", f"{name} must be between {low} and {high}, got {value}")
    return value


def _depth(value, high):
    """C{max_depth}: an integer, or JSON null / C{none} for no depth limit."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
        return None
    return _integer("max_depth", value, 0, high)


def _boolean(name, value):
    """JSON true/false, or true/false/1/0/yes/no as text."""
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        raise InputError(422, "bad_option", f"{name} must be true or false, got {_shown(value)}")
    return value


def _patterns(name, value, config):
    """A list of RE2 patterns (one string is a list of one)."""
    try:
        return check(name, [value] if isinstance(value, str) else value,
                     config.max_patterns, config.max_pattern_length)
    except PatternError as e:
        raise InputError(422, "bad_option", str(e)) from None


def _seconds(name, value, high):
    """A number of seconds, from JSON or text; NaN and infinities are not."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        raise InputError(422, "bad_option",
                         f"{name} must be a number of seconds, got {_shown(value)}")
    if not 0 <= value <= high:
        raise InputError(422, "bad_option", f"{name} must be between 0 and {high:g} seconds, got {value}")
    return float(value)


def parse_options(given, config):
    """Validate options from the body or the query; fill in the defaults."""
    scope = given.get("scope", "host")
    if scope not in SCOPES:
        raise InputError(422, "bad_option",
                         f"scope must be one of {', '.join(SCOPES)}, got {_shown(scope)}")
    return {
        "max_depth": _depth(given.get("max_depth", 1), config.max_depth_limit),
        "scope": scope,
        "max_pages": _integer("max_pages", given.get("max_pages", config.default_max_pages),
                              1, config.max_pages_limit),
        # Politeness per host, across the whole pool (see lua/hosts.lua).
        "host_concurrency": _integer(
            "host_concurrency", given.get("host_concurrency", config.host_concurrency),
            1, config.max_host_concurrency),
        "host_delay": _seconds(
            "host_delay", given.get("host_delay", config.host_delay_seconds), MAX_HOST_DELAY),
        # Crawl controls (common/patterns.py, worker/sitemaps.py).
        "include": _patterns("include", given.get("include", []), config),
        "exclude": _patterns("exclude", given.get("exclude", []), config),
        "sitemaps": _boolean("sitemaps", given.get("sitemaps", False)),
        "obey_nofollow": _boolean("obey_nofollow", given.get("obey_nofollow", True)),
        **_callbacks(given, config),
    }


def _callbacks(given, config):
    """The webhook options (L{api.callbacks}), or the error as an InputError."""
    try:
        return callback_options(given, config)
    except CallbackOptionError as e:
        raise InputError(422, e.code, str(e)) from None


def check_urls(raw_urls, config):
    """Normalise, dedup, and reject the whole list if any entry is bad."""
    if len(raw_urls) > config.max_start_urls:
        raise InputError(422, "too_many_urls",
                         f"{len(raw_urls)} URLs given; at most {config.max_start_urls} per job")
    urls, problems = [], []
    for raw in raw_urls:
        if not isinstance(raw, str):
            problems.append(f"not a string: {_shown(raw)}")
            continue
        try:
            urls.append(check_start_url(raw))
        except InvalidURL as e:
            problems.append(str(e))
    if problems:
        shown = "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
        raise InputError(422, "invalid_url", f"{len(problems)} invalid URL(s): {shown}")
    if not urls:
        raise InputError(422, "no_urls", "no URL given")
    return list(dict.fromkeys(urls))


def parse_submission(content_type, body, query, config):
    """
    @param query: the request's query, C{{name: [values]}} as text.
    @raise InputError: naming the first problem found.
    """
    if len(body) > config.max_request_bytes:
        raise InputError(413, "body_too_large",
                         f"the request body is over {config.max_request_bytes} bytes")
    kind = media_type(content_type)
    if kind in _JSON_TYPES:
        raw_urls, given = _from_json(body)
    elif kind in _TEXT_TYPES:
        raw_urls, given = _from_text(body)
    else:
        raise InputError(415, "unsupported_media_type",
                         f"send application/json or text/plain, not {kind!r}")
    from_query = from_fields(query)
    if not from_query.keys().isdisjoint(given):
        # A bad value in the query is refused even where the body's own wins.
        parse_options(from_query, config)
    options = parse_options({**from_query, **given}, config)
    urls = check_urls(raw_urls, config)[: options["max_pages"]]
    return Submission(urls, options)
