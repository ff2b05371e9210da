"""
The schemas of L{api.openapi}'s document: jobs, images, pages, errors,
job options, events and webhooks, from the same constants and settings
that validation uses, so that the document and the API never disagree.
"""

from api.callbacks import DEFAULT_EVENTS, DEFAULT_EVERY_PAGES, EVENT_NAMES, MAX_EVERY_PAGES
from api.events import BATCH, MAX_OFFSET
from api.input import MAX_HOST_DELAY, OPTIONS
from common import keys
from common.store import COUNTERS
from common.urls import MAX_URL_LENGTH, SCOPES

JOB_STATUSES = ("queued", "running", "completed", "cancelled")
EXPORT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv", "txt": "text/plain"}
# Where every part of a string a URL may be: what README's examples crawl.
EXAMPLE_URL = "http://127.0.0.1:9000/"
# A boolean in a query or a form: true/false/1/0/yes/no, any case (api.input).
_TEXT_BOOLEAN = r"^\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|1|0)\s*$"


def ref(name, kind="schemas"):
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema):
    return {"application/json": {"schema": schema}}


def _nullable(schema):
    return {"anyOf": [schema, {"type": "null"}]}


def integers(low, high=None, **extra):
    schema = {"type": "integer", "minimum": low, **extra}
    if high is not None:
        schema["maximum"] = high
    return schema


def _max_pages(config):
    """The highest C{max_pages} a job may ask: the limit, and the hourly budget when on."""
    budget = config.client_pages_per_hour
    return min(config.max_pages_limit, budget) if budget else config.max_pages_limit


def option_schemas(config):
    """Every job option the API knows, as it is given in a JSON body."""
    patterns = {"anyOf": [
        {"type": "array", "maxItems": config.max_patterns,
         "items": {"type": "string", "maxLength": config.max_pattern_length}},
        {"type": "string", "maxLength": config.max_pattern_length}],
        "description": "regular expressions in RE2 syntax (no backreferences, no lookaround), "
                       "searched for in the absolute URL; one that does not compile is a 422"}
    return {
        "max_depth": {**_nullable(integers(0, config.max_depth_limit)), "default": 1,
                      "description": "0: the start pages only; null: no depth limit "
                                     "(max_pages still bounds the job)"},
        "scope": {"enum": list(SCOPES), "default": "host"},
        "max_pages": integers(1, _max_pages(config), default=config.default_max_pages),
        "host_concurrency": integers(1, config.max_host_concurrency,
                                      default=config.host_concurrency),
        "host_delay": {"type": "number", "minimum": 0, "maximum": MAX_HOST_DELAY,
                       "default": config.host_delay_seconds,
                       "description": "seconds between two fetch starts on one host"},
        "include": {**patterns, "default": []},
        "exclude": {**patterns, "default": []},
        "sitemaps": {"type": "boolean", "default": False,
                     "description": "also start from each start site's sitemaps"},
        "obey_nofollow": {"type": "boolean", "default": True},
        "callback_url": {**_nullable({"type": "string", "maxLength": MAX_URL_LENGTH}),
                         "default": None, "description": "an http(s) URL that receives the "
                         "job's webhooks; needs WEBHOOK_SECRET (else 422 webhooks_disabled)"},
        "callback_events": {"type": "array", "items": {"enum": list(EVENT_NAMES)},
                            "default": list(DEFAULT_EVENTS)},
        "callback_every_pages": integers(1, MAX_EVERY_PAGES, default=DEFAULT_EVERY_PAGES,
                                          description="with progress: every N pages"),
    }


def text_option(name, schema):
    """The same option as a query or form value: text, parsed the way api.input parses it."""
    if schema.get("type") == "boolean":
        return {"type": "string", "pattern": _TEXT_BOOLEAN, "default": str(schema["default"]).lower()}
    if name == "max_depth":
        return {"anyOf": [schema["anyOf"][0], {"enum": ["none", "null"]}], "default": 1}
    if name in ("include", "exclude"):
        return schema["anyOf"][0]
    if name == "callback_url":
        return schema["anyOf"][0]
    return schema


def schemas(config):
    """The components' schemas: what comes in and what goes out."""
    options = {name: schema for name, schema in option_schemas(config).items() if name in OPTIONS}
    url = {"type": "string", "minLength": 1, "maxLength": MAX_URL_LENGTH, "examples": [EXAMPLE_URL]}
    urls = {"type": "array", "items": ref("Url"), "minItems": 1, "maxItems": config.max_start_urls}
    return {
        "Error": _object({"error": _object({"code": {"type": "string"},
                                            "message": {"type": "string"}})}),
        "JobId": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "Url": url,
        "Submission": {"type": "object", "additionalProperties": False, "required": ["urls"],
                       "properties": {"urls": {"anyOf": [ref("Url"), urls]}, **options}},
        "UrlList": urls,
        "Options": {"type": "object", "properties": options},
        "Stats": _object({name: integers(0) for name in (*COUNTERS, "pages_pending")}, extra=True),
        **_result_schemas(),
        "Service": _object({"service": {"type": "string"}, "jobs": {"type": "string"},
                            "health": {"type": "string"}}, extra=True),
        "Health": _object({"status": {"const": "ok"}}),
        "Ready": _object({"ready": {"type": "boolean"},
                          "checks": {"type": "object", "additionalProperties": {"type": "string"}}},
                         extra=True),
        **_event_schemas(),
        **_webhook_schemas(),
    }


def _result_schemas():
    """A job, its images and pages, and the 2015 shape of a job."""
    text = {"type": ["string", "null"]}
    return {
        "Job": _object({
            "id": ref("JobId"), "status": {"enum": list(JOB_STATUSES)},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": _nullable({"type": "string", "format": "date-time"}),
            "finished_at": _nullable({"type": "string", "format": "date-time"}),
            "urls": {"type": "array", "items": {"type": "string"}},
            "options": ref("Options"), "stats": ref("Stats"),
            "links": _object({k: {"type": "string"} for k in ("self", "images", "pages")},
                             extra=True)}, extra=True),
        "JobList": _listing("jobs", ref("Job")),
        "Image": _object({"url": {"type": "string"},
                          "sources": {"type": "array", "items": {"type": "string"}},
                          "found_on": {"type": "array", "items": {"type": "string"}},
                          "alt": text}, extra=True),
        "ImageList": _listing("images", ref("Image")),
        "Page": {"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string"}, "depth": integers(0),
            "status": {"type": ["integer", "string"], "description": "HTTP status, or why none"},
            "images": integers(0), "links": integers(0), "attempt": integers(0),
            "worker": {"type": "string"}, "final_url": {"type": "string"},
            "redirects": {"type": "array", "items": {"type": "object"}},
            "error": {"type": "string"}, "skipped": {"type": "string"},
            "tries": {"type": "array", "items": {"type": "object"}}}},
        "PageList": _listing("pages", ref("Page")),
        "LegacyJob": _object({
            "id": ref("JobId"), "status": {"enum": list(JOB_STATUSES)},
            "all_urls": {"type": "array", "items": {"type": "string"}},
            "crawls_pending": integers(0), "crawls_completed": integers(0),
            "images": {"type": "array", "items": {"type": "string"}}}, extra=True),
    }


def _object(properties, extra=False):
    """An object with all of C{properties} required; C{extra}: others may follow."""
    return {"type": "object", "required": list(properties), "properties": properties,
            "additionalProperties": extra}


def _listing(name, item):
    return _object({name: {"type": "array", "items": item}, "next": _nullable({"type": "string"})})


def _event_schemas():
    return {
        "ProgressEvent": _object({"id": ref("JobId"), "status": {"enum": list(JOB_STATUSES)},
                                  "stats": ref("Stats"),
                                  "finished_at": _nullable({"type": "string"})}, extra=True),
        "ImagesEvent": _object({"offset": integers(0, MAX_OFFSET),
                                "images": {"type": "array", "maxItems": BATCH,
                                           "items": ref("Image")}}),
        "EndEvent": _object({"status": _nullable({"enum": list(JOB_STATUSES)})}, extra=True),
    }


def _webhook_schemas():
    time = _nullable({"type": "string", "format": "date-time"})
    return {
        "WebhookEvent": _object({
            "id": {"type": "string", "description": "the event id (also X-Event-Id): dedupe on it"},
            "event": {"enum": list(keys.EVENTS)}, "time": {"type": "string", "format": "date-time"},
            "job": _object({"id": ref("JobId"), "status": {"enum": list(JOB_STATUSES)},
                            "created_at": time, "started_at": time, "finished_at": time,
                            "stats": ref("Stats"), "links": {"type": "object"}}, extra=True)}),
        "Delivery": _object({
            "event_id": {"type": "string"}, "event": {"enum": list(keys.EVENTS)},
            "attempt": integers(1), "at": {"type": "string", "format": "date-time"},
            "status": _nullable(integers(100, 599)), "error": {"type": ["string", "null"]},
            "outcome": {"enum": [keys.DELIVERY_DONE, keys.DELIVERY_RETRY, keys.DELIVERY_GIVEN_UP]},
            "next_attempt_at": time}, extra=True),
        "DeliveryList": {"type": "array", "items": ref("Delivery"),
                         "description": "every delivery attempt, oldest first"},
    }


def sse_schema():
    """One event of C{GET /jobs/ID/events}, as OpenAPI before 3.2 describes a stream: per event."""
    kinds = {"progress": "ProgressEvent", "images": "ImagesEvent", "end": "EndEvent"}
    return {"oneOf": [{
        "type": "object", "required": ["event", "data"],
        "properties": {"event": {"const": kind}, "id": {"type": "string"},
                       "data": {"type": "string", "contentMediaType": "application/json",
                                "contentSchema": ref(name)}}} for kind, name in kinds.items()]}
