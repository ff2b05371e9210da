"""
C{GET /openapi.json}: the HTTP API described as OpenAPI 3.1.

The document is built from the same constants and settings that
validation uses (L{api.input}, L{common.config}, the paging bounds of
L{api.resources}), once, when the API starts: a limit changed in the
environment changes the document with it, so the two never disagree.
Job options are described only when L{api.input.OPTIONS} accepts them,
from L{api.openapi_schemas.option_schemas}; an option missing there fails the unit test.

It is served without a token, as C{/healthz} is: it holds no data, and a
client needs it to learn how to authenticate.
"""

from api.events import BATCH, MAX_OFFSET
from api.http import JsonResource
from api.input import MAX_JSON_DEPTH, OPTIONS
from api.openapi_schemas import (
    EXAMPLE_URL, EXPORT_TYPES, integers, json_content, option_schemas, ref, schemas, sse_schema,
    text_option)
from api.page import FILES
from common import keys
def _error(description, headers=None):
    response = {"description": description, "content": json_content(ref("Error"))}
    if headers:
        response["headers"] = headers
    return response


def _retry_after(required):
    return {"Retry-After": {"required": required, "schema": integers(1),
                            "description": "seconds to wait before trying again"}}


def responses(config):
    """The error answers, each C{{"error": {"code", "message"}}} with its status."""
    return {
        "BadRequest": _error(
            "malformed HTTP, a body that is not UTF-8 or not JSON, JSON nested deeper than "
            f"{MAX_JSON_DEPTH}, or a bad cursor, limit or format (codes bad_request, "
            "malformed_json, json_too_deep, bad_encoding, bad_cursor, bad_format)"),
        "Unauthorized": _error(
            "tokens are on (API_TOKEN or API_TOKENS_FILE) and the request carries none of them; "
            "code unauthorized",
            {"WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}}}),
        "NotFound": _error("no such job (an unknown or malformed id), or no such path; codes "
                           "no_such_job, not_found"),
        "RequestTimeout": _error(
            f"the headers (REQUEST_HEADER_TIMEOUT, {config.request_header_timeout:g} s) or the "
            f"body (REQUEST_BODY_TIMEOUT, {config.request_body_timeout:g} s) came too slowly; "
            "the connection is closed"),
        "TooLarge": _error(
            f"the body is over MAX_REQUEST_BYTES ({config.max_request_bytes} bytes); answered "
            "without reading it, then the connection is closed; code body_too_large"),
        "UnsupportedMediaType": _error("a content type other than JSON, text or a form"),
        "Unprocessable": _error(
            "a well-formed submission that cannot be a job: invalid_url, no_urls, "
            f"too_many_urls (over {config.max_start_urls}), unknown_field, bad_option, "
            "max_pages_over_budget, webhooks_disabled"),
        "TooManyRequests": _error(
            "admission control refused the job: rate_limited and page_budget carry Retry-After; "
            "too_many_jobs (the client's live-job cap) has none", _retry_after(False)),
        "Unavailable": _error(
            f"Redis did not answer within API_STORE_TIMEOUT ({config.api_store_timeout:g} s), "
            "or too many event streams are open; codes unavailable, too_many_streams",
            _retry_after(True)),
    }


def parameters(config):
    from api.resources import MAX_CURSOR, MAX_PAGE_SIZE, PAGE_SIZE  # resources imports this module

    return {
        "JobId": {"name": "job_id", "in": "path", "required": True, "schema": ref("JobId")},
        "Cursor": {"name": "cursor", "in": "query", "description": "the offset to start at; "
                   "each page's next link carries the next one",
                   "schema": integers(0, MAX_CURSOR, default=0)},
        "Limit": {"name": "limit", "in": "query",
                  "schema": integers(1, MAX_PAGE_SIZE, default=PAGE_SIZE)},
        "Format": {"name": "format", "in": "query", "description": "json: a page of results; "
                   "the others stream every result, to the end",
                   "schema": {"enum": ["json", *EXPORT_TYPES], "default": "json"}},
        "After": {"name": "after", "in": "query", "description": "the image offset to resume "
                  "after (Last-Event-ID wins)", "schema": integers(0, MAX_OFFSET, default=0)},
        "LastEventId": {"name": "Last-Event-ID", "in": "header", "description": "what an "
                        "EventSource sends when it reconnects: the last images event's id",
                        "schema": integers(0, MAX_OFFSET)},
    }


_ERRORS = {"400": "BadRequest", "401": "Unauthorized", "404": "NotFound",
           "408": "RequestTimeout", "413": "TooLarge", "415": "UnsupportedMediaType",
           "422": "Unprocessable", "429": "TooManyRequests", "503": "Unavailable"}
# What every request of the API proper may meet: tokens, and Redis away.
_ALWAYS = ("401", "503")


def _op(op_id, summary, ok, errors=(), params=(), body=None, public=False):
    """One operation: C{ok} its success responses, C{errors} the statuses of L{_ERRORS}."""
    operation = {"operationId": op_id, "summary": summary,
                 "parameters": [p if isinstance(p, dict) else ref(p, "parameters") for p in params],
                 "responses": {**ok, **{code: ref(_ERRORS[code], "responses")
                                        for code in sorted({*errors, *([] if public else _ALWAYS)})}}}
    if body is not None:
        operation["requestBody"] = body
    if public:
        operation["security"] = []
    return operation


def _ok(description, content, headers=None, links=None, status="200"):
    response = {"description": description, "content": content}
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return {status: response}


def _job_links():
    """From a created job to what can be done with it: stateful tests follow these."""
    job_id = {"job_id": "$response.body#/id"}
    return {name: {"operationId": op, "parameters": job_id} for name, op in (
        ("GetJob", "getJob"), ("CancelJob", "cancelJob"), ("ListImages", "listImages"),
        ("ListPages", "listPages"), ("GetCallbacks", "getCallbacks"), ("GetLegacyJob", "getLegacyJob"))}


def _submission(config):
    """How a job is submitted: JSON, a text list of URLs, or a form; options also in the query."""
    options = {name: schema for name, schema in option_schemas(config).items() if name in OPTIONS}
    text_options = {name: text_option(name, schema) for name, schema in options.items()}
    form = {"type": "object", "required": ["urls"],
            "properties": {"urls": {"type": "string", "description": "URLs, white space "
                                    "separated"}, **text_options}}
    body = {"required": True, "description": "JSON (also as text/json), or URLs separated by "
            "white space or run together (text/plain, curl's default form encoding, no content "
            "type), or a form with a urls field", "content": {
                "application/json": {"schema": {"anyOf": [ref("Submission"), ref("UrlList")]},
                                     "example": {"urls": [EXAMPLE_URL], "max_depth": 1}},
                "text/plain": {"schema": {"type": "string"}, "example": EXAMPLE_URL},
                "application/x-www-form-urlencoded": {"schema": form}}}
    query = [{"name": name, "in": "query", "description": "the option, for a text body; the "
              "body's own value wins", "schema": schema, **(
                  {"style": "form", "explode": True} if schema.get("type") == "array" else {})}
             for name, schema in text_options.items()]
    return body, query


def _created(config, schema, location):
    headers = {"Location": {"required": True, "schema": {"type": "string"},
                            "description": f"{location}ID, the new job"}}
    return _ok("the job, created", json_content(ref(schema)), headers, _job_links(), status="201")


def _listing_op(kind, op_id):
    content = {"application/json": {"schema": ref("ImageList" if kind == "images" else "PageList")}}
    content.update({media: {"schema": {"type": "string"}} for media in EXPORT_TYPES.values()})
    return _op(op_id, f"The job's {kind}: a page of JSON, or every one streamed (?format)",
               _ok(f"{kind}; next is the next page's link, null after the last", content),
               ("400", "404"), ("JobId", "Cursor", "Limit", "Format"))


def paths(config):
    """Every path the API serves: the jobs and their views, then the service's own."""
    return {**_job_paths(config), **_service_paths(config)}


def _job_paths(config):
    body, query = _submission(config)
    errors = ("400", "408", "413", "415", "422", "429")
    job = ("JobId",)
    return {
        "/": {
            "get": _op("getService", "JSON: where things are; a browser (Accept prefers "
                       "text/html) gets the web page, without a token",
                       _ok("the service document, or the page",
                           {**json_content(ref("Service")), "text/html": {"schema": {"type": "string"}}})),
            "post": _op("submitLegacy", "The 2015 interface: create a job, answered in the old shape",
                        _created(config, "LegacyJob", "/job/"), errors, query, body)},
        "/jobs": {
            "get": _op("listJobs", "Recent jobs, newest first", _ok("jobs", json_content(ref("JobList"))),
                       ("400",), ("Cursor", "Limit")),
            "post": _op("createJob", "Create a job", _created(config, "Job", "/jobs/"),
                        errors, query, body)},
        "/jobs/{job_id}": {
            "get": _op("getJob", "The job", _ok("the job", json_content(ref("Job"))), ("404",), job),
            "delete": _op("cancelJob", "Cancel the job (idempotent); its queued tasks are dropped",
                          _ok("the job, cancelled (or already over)", json_content(ref("Job"))),
                          ("404",), job)},
        "/jobs/{job_id}/images": {"get": _listing_op("images", "listImages")},
        "/jobs/{job_id}/pages": {"get": _listing_op("pages", "listPages")},
        "/jobs/{job_id}/events": {"get": _op(
            "jobEvents", "Progress and new images, live, as server-sent events",
            _ok("the stream: a retry hint; progress (first, and on every change); images in "
                f"batches of at most {BATCH}, each with the id to resume after (Last-Event-ID or "
                f"?after=); a ': heartbeat' comment after {config.events_heartbeat_seconds:g} s "
                "of quiet; end once the job is over and every image went out",
                {"text/event-stream": {"schema": sse_schema()}}),
            ("400", "404"), ("JobId", "After", "LastEventId"))},
        "/jobs/{job_id}/callbacks": {"get": _op(
            "getCallbacks", "The job's webhook deliveries: each event, its attempts and outcome",
            _ok("the ledger", json_content(ref("DeliveryList"))), ("404",), job)},
        "/job/{job_id}": {"get": _op(
            "getLegacyJob", "The 2015 interface's job shape, with up to 100,000 image URLs",
            _ok("the job", json_content(ref("LegacyJob"))), ("404",), job)},
    }


def _service_paths(config):
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/healthz": {"get": _op("health", "Liveness", _ok("alive", json_content(ref("Health"))),
                                public=True)},
        "/readyz": {"get": _op("ready", "Readiness: Redis answers and ZeroMQ is bound", {
            **_ok("ready", json_content(ref("Ready"))),
            "503": {"description": "not ready; checks says what is down",
                    "content": json_content(ref("Ready"))}}, public=True)},
        "/metrics": {"get": _op(
            "metrics", "Prometheus text; behind METRICS_TOKEN when that is set, else the API's "
            "tokens", _ok("the metrics", text), public=not (config.api_token or config.metrics_token))},
        "/openapi.json": {"get": _op("openapi", "This document",
                                     _ok("OpenAPI 3.1", json_content({"type": "object"})), public=True)},
        "/static/{name}": {"get": _op(
            "staticFile", "The web page's files (ETag; 304 when unchanged)",
            {**_ok("the file", {media.decode().split(";")[0]: {"schema": {"type": "string"}}
                                for media in FILES.values()}),
             "304": {"description": "the browser's copy is current"}},
            ("404",), [{"name": "name", "in": "path", "required": True,
                        "schema": {"enum": sorted(FILES)}}], public=True)},
    }


def webhooks(config):
    """What a job's callback_url receives."""
    signature = {"name": "X-Signature-256", "in": "header", "required": True,
                 "description": "sha256=<hex>: HMAC-SHA256 of the raw body with WEBHOOK_SECRET",
                 "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}}
    event_id = {"name": "X-Event-Id", "in": "header", "required": True,
                "description": "the same on every retry of one event: dedupe on it",
                "schema": {"type": "string"}}
    event = {"name": "X-Event", "in": "header", "required": True,
             "schema": {"enum": list(keys.EVENTS)}}
    return {"jobEvent": {"post": {
        "operationId": "jobEvent", "summary": "A job event, POSTed to the job's callback_url: "
        "completed, cancelled or failed, and progress every callback_every_pages pages when "
        "callback_events asks; through the same network guard as crawling, no redirects",
        "parameters": [signature, event_id, event],
        "requestBody": {"required": True, "content": json_content(ref("WebhookEvent"))},
        "responses": {
            "2XX": {"description": "delivered"},
            "default": {"description": f"408, 429, 5xx (and no answer): tried again with backoff, "
                        f"{config.webhook_max_attempts} attempts in all; anything else gives the "
                        "event up; every attempt is in GET /jobs/{job_id}/callbacks"}}}}}


def document(config):
    """The whole OpenAPI 3.1 document for an API running with C{config}."""
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "imagecrawler", "version": "1",
                 "description": "A distributed image crawler: submit start URLs, follow the job, "
                 "read the images it found.  Errors are JSON, {\"error\": {\"code\", "
                 "\"message\"}}; a method a path does not have is a 405 with Allow; a bug is a "
                 "500 (logged)."},
        "paths": paths(config),
        "webhooks": webhooks(config),
        "components": {
            "schemas": schemas(config), "responses": responses(config),
            "parameters": parameters(config),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "description": "Authorization: Bearer "
                "<token>, one of API_TOKEN / API_TOKENS_FILE, when they are set; /healthz, "
                "/readyz, /openapi.json and the web page stay open"}}},
    }
    if config.api_token:
        doc["security"] = [{"bearer": []}]
    return doc


class Description(JsonResource):
    """C{GET /openapi.json}, built once: the configuration does not change while the API runs."""

    def __init__(self, config):
        super().__init__()
        self.document = document(config)

    async def GET(self, request):
        return 200, self.document
