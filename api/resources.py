"""
The HTTP API (v1) as a tree of twisted.web resources.

    /                  POST: the 2015 interface (URLs in the body)
    /job/ID            GET: the 2015 job shape
    /jobs              GET: recent jobs; POST: create a job
    /jobs/ID           GET: the job; DELETE: cancel it
    /jobs/ID/images    GET: images, paginated, or ?format=ndjson|csv|txt
    /jobs/ID/pages     GET: pages, paginated, or ?format=ndjson|csv|txt
    /jobs/ID/events    GET: progress and new images, live (api/events.py)
    /jobs/ID/callbacks GET: the job's webhook delivery attempts (api/webhooks.py)
    / (text/html), /static/NAME   the web page (api/page.py)
    /healthz /readyz /metrics
    /openapi.json      GET: this API described as OpenAPI 3.1 (api/openapi.py)
"""

import csv
import io
import re

from twisted.logger import Logger

from api import openapi, page, views
from api.admission import Admission
from api.events import Events, StreamSlots
from api.http import ApiError, JsonResource, NotFound, TimedStore, Tokens, body, encode, query
from api.input import InputError, parse_submission
from common.lifecycle import EventStore
from common.messages import is_job_id

log = Logger()

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# A Redis list holds at most 2**32 - 1 items, so no cursor lies past that;
# bounding it also keeps cursor + limit inside Redis's integers.
MAX_CURSOR = 2**32 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
_EXPORT_CHUNK = 1000
_EXPORT_TYPES = {
    "ndjson": b"application/x-ndjson; charset=utf-8",
    "csv": b"text/csv; charset=utf-8",
    "txt": b"text/plain; charset=utf-8",
}


def _paging(request):
    args = query(request)
    return (_bounded(args, "cursor", "0", 0, MAX_CURSOR),
            _bounded(args, "limit", str(PAGE_SIZE), 1, MAX_PAGE_SIZE))


def _bounded(args, name, default, low, high):
    """Plain decimal digits only: C{int()} would also take C{" 1_0 "} or C{"\\u0661"}."""
    raw = args.get(name, [default])[-1]
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ApiError(400, "bad_cursor", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _next_link(path, offset, limit, more):
    return f"{path}?cursor={offset + limit}&limit={limit}" if more else None


class Api:
    """What the resources share: the store, the dispatcher, the config."""

    # Clients poll GET /jobs/ID, often many at once: a running job's view is
    # answered from memory for a quarter of a second, a finished job's (it
    # no longer changes) for a minute.
    RUNNING_VIEW_SECONDS = 0.25
    FINISHED_VIEW_SECONDS = 60
    VIEWS_KEPT = 10_000

    def __init__(self, store, dispatcher, config, metrics):
        # Every store call a request makes answers within API_STORE_TIMEOUT
        # or is a 503: a Redis that is down must not hold requests up.
        store = TimedStore(store, store.clock, config.api_store_timeout)
        self.store = store
        self.lifecycle = TimedStore(EventStore(store.redis, store.clock), store.clock,
                                    config.api_store_timeout)
        self.dispatcher = dispatcher
        self.config = config
        self.metrics = metrics
        self.admission = Admission(store, config)
        self._views = {}
        self.tokens = Tokens(config.api_token)
        self.streams = StreamSlots(config.events_max_streams)
        self.metrics_tokens = (Tokens(config.metrics_token, "METRICS_TOKEN")
                               if config.metrics_token else self.tokens)

    async def job_view(self, job_id):
        now = self.store.clock.seconds()
        kept = self._views.get(job_id)
        if kept is not None and kept[0] > now:
            return kept[1]
        view = views.job_view(await self.job_or_404(job_id))
        finished = view["status"] in ("completed", "cancelled")
        if len(self._views) >= self.VIEWS_KEPT:
            self._views.clear()
        ttl = self.FINISHED_VIEW_SECONDS if finished else self.RUNNING_VIEW_SECONDS
        self._views[job_id] = (now + ttl, view)
        return view

    def forget(self, job_id):
        self._views.pop(job_id, None)

    async def job_or_404(self, job_id):
        job = await self.store.job(job_id) if is_job_id(job_id) else None
        if job is None:
            raise ApiError(404, "no_such_job", f"no job with id {job_id[:64]!r}")
        return job

    async def submit(self, request):
        try:
            submission = parse_submission(
                (request.getHeader(b"content-type") or b"").decode("latin-1"),
                body(request), query(request), self.config)
        except InputError as e:
            raise ApiError(e.status, e.code, e.message) from None
        client = await self.admission.admit(request, submission.options["max_pages"])
        job_id = await self.store.create(
            submission.urls, submission.options, self.config.obey_robots, client)
        self.metrics.jobs_created.inc()
        self.dispatcher.wake()
        log.info("job {job} created: {start_urls} start URL(s) from {url}, options {options}",
                 event="job.created", job=job_id, url=submission.urls[0],
                 start_urls=len(submission.urls), options=submission.options)
        return await self.store.job(job_id)


class ApiResource(JsonResource):
    """A resource of the API proper: it needs the shared parts and the token."""

    def __init__(self, api):
        super().__init__()
        self.api = api
        self.tokens = api.tokens


class Root(ApiResource):
    def __init__(self, api):
        super().__init__(api)
        self.putChild(b"jobs", Jobs(api))
        self.putChild(b"job", LegacyJobs(api))
        self.putChild(b"healthz", Health())
        self.putChild(b"readyz", Ready(api))
        self.putChild(b"metrics", Metrics(api))
        self.putChild(b"openapi.json", openapi.Description(api.config))
        files = page.load()
        self.putChild(b"static", page.Static(files))
        self.index = files["index.html"]

    def getChild(self, path, request):
        return self if path == b"" else NotFound()

    def render(self, request):
        """A browser (it prefers HTML) gets the page, without a token: it holds no data."""
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        if request.method in (b"GET", b"HEAD") and page.wants_html(accept):
            return self.index.render(request)
        return super().render(request)

    async def GET(self, request):
        return 200, {"service": "imagecrawler", "jobs": "/jobs", "health": "/healthz",
                     "openapi": "/openapi.json"}, {
            b"vary": b"Accept"}

    async def POST(self, request):
        job = await self.api.submit(request)
        return 201, views.legacy_view(job, []), {b"location": f"/job/{job['id']}".encode()}


class Jobs(ApiResource):
    def getChild(self, path, request):
        if path == b"":
            return self
        return Job(self.api, path.decode("utf-8", "replace"))

    async def GET(self, request):
        offset, limit = _paging(request)
        jobs = await self.api.store.recent_jobs(offset, limit + 1)
        return 200, {
            "jobs": [views.job_view(j) for j in jobs[:limit]],
            "next": _next_link("/jobs", offset, limit, len(jobs) > limit),
        }

    async def POST(self, request):
        job = await self.api.submit(request)
        return 201, views.job_view(job), {b"location": f"/jobs/{job['id']}".encode()}


class Job(ApiResource):
    def __init__(self, api, job_id):
        super().__init__(api)
        self.job_id = job_id

    def getChild(self, path, request):
        if path == b"images":
            return Listing(self.api, self.job_id, "images")
        if path == b"pages":
            return Listing(self.api, self.job_id, "pages")
        if path == b"events":
            return Events(self.api, self.job_id)
        if path == b"callbacks":
            return Callbacks(self.api, self.job_id)
        return NotFound()

    async def GET(self, request):
        return 200, await self.api.job_view(self.job_id)

    async def DELETE(self, request):
        await self.api.job_or_404(self.job_id)
        await self.api.store.cancel(self.job_id)
        self.api.forget(self.job_id)
        return 200, await self.api.job_view(self.job_id)


class Callbacks(ApiResource):
    """The job's webhook ledger: every delivery attempt, oldest first."""

    def __init__(self, api, job_id):
        super().__init__(api)
        self.job_id = job_id

    async def GET(self, request):
        await self.api.job_or_404(self.job_id)
        return 200, await self.api.lifecycle.ledger(self.job_id)


class Listing(ApiResource):
    """A job's images or pages: JSON pages of results, or one streamed export."""

    def __init__(self, api, job_id, kind):
        super().__init__(api)
        self.job_id = job_id
        self.kind = kind
        self.view = views.image_view if kind == "images" else views.page_view
        self.read = api.store.images if kind == "images" else api.store.pages

    async def GET(self, request):
        await self.api.job_or_404(self.job_id)
        fmt = query(request).get("format", ["json"])[-1]
        if fmt in _EXPORT_TYPES:
            await self._export(request, fmt)
            return None
        if fmt != "json":
            raise ApiError(400, "bad_format", f"format must be json, ndjson, csv or txt, not {fmt!r}")
        offset, limit = _paging(request)
        rows = await self.read(self.job_id, offset, limit + 1)
        path = f"/jobs/{self.job_id}/{self.kind}"
        return 200, {
            self.kind: [self.view(url, record) for url, record in rows[:limit]],
            "next": _next_link(path, offset, limit, len(rows) > limit),
        }

    async def _export(self, request, fmt):
        finished = []
        request.notifyFinish().addBoth(finished.append)
        request.setHeader(b"content-type", _EXPORT_TYPES[fmt])
        if fmt == "csv":
            request.write(_csv_row(self._csv_header()))
        offset = 0
        while not finished:
            rows = await self.read(self.job_id, offset, _EXPORT_CHUNK)
            if finished:
                return
            request.write(b"".join(self._line(fmt, url, record) for url, record in rows))
            if len(rows) < _EXPORT_CHUNK:
                break
            offset += _EXPORT_CHUNK
        if not finished:
            request.finish()

    def _csv_header(self):
        if self.kind == "images":
            return ["url", "sources", "found_on", "alt"]
        return ["url", "depth", "status", "images", "error"]

    def _line(self, fmt, url, record):
        if fmt == "txt":
            return url.encode("utf-8") + b"\n"
        view = self.view(url, record)
        if fmt == "ndjson":
            return encode(view)
        row = [view.get(name) for name in self._csv_header()]
        return _csv_row([" ".join(v) if isinstance(v, list) else v for v in row])


def _csv_row(values):
    out = io.StringIO()
    csv.writer(out).writerow(["" if v is None else v for v in values])
    return out.getvalue().encode("utf-8")


class LegacyJobs(ApiResource):
    def getChild(self, path, request):
        return LegacyJob(self.api, path.decode("utf-8", "replace"))


class LegacyJob(ApiResource):
    """C{GET /job/ID} only, as in 2015: no DELETE, no lists below it."""

    def __init__(self, api, job_id):
        super().__init__(api)
        self.job_id = job_id

    async def GET(self, request):
        job = await self.api.job_or_404(self.job_id)
        images = await self.api.store.images(self.job_id, 0, 100_000)
        return 200, views.legacy_view(job, [url for url, _ in images])


class Health(JsonResource):
    async def GET(self, request):
        return 200, {"status": "ok"}


class Ready(JsonResource):
    """Ready when Redis answers and the ZeroMQ sockets are bound; no token,
    so that orchestrators can probe it."""

    def __init__(self, api):
        super().__init__()
        self.api = api

    async def GET(self, request):
        checks = {"zmq": "ok" if self.api.dispatcher.running else "down"}
        try:
            await self.api.store.ping(timeout=self.api.config.api_store_timeout)
            backlog = await self.api.store.backlog()
            checks["redis"] = "ok"
        except Exception as e:
            checks["redis"] = f"down: {e}"
            backlog = {}
        ready = all(v == "ok" for v in checks.values())
        return (200 if ready else 503), {"ready": ready, "checks": checks, **backlog}


class Metrics(JsonResource):
    """Prometheus text for GET; other methods get the usual JSON 405.
    Behind the API's tokens when they are on, or METRICS_TOKEN's own."""

    isLeaf = True

    def __init__(self, api):
        super().__init__()
        self.api = api
        self.tokens = api.metrics_tokens

    async def GET(self, request):
        request.setHeader(b"content-type", self.api.metrics.content_type)
        request.write(self.api.metrics.render())
        request.finish()

