"""
GET /jobs/ID/events through the real Site over a StringTransport, the
store a FakeStore (the real Lua on fakeredis), time a Clock: every poll
and heartbeat happens on Clock.advance, none on a wall clock.
"""

import json

import pytest

from api.events import BATCH
from common import keys
from tests.unit.test_resources import ApiHarness, dechunk, run

OPTIONS = {"max_depth": 0, "scope": "host", "max_pages": 10_000,
           "host_concurrency": 4, "host_delay": 0.0}


class Stream:
    """One open event stream: what the client has received so far, parsed."""

    def __init__(self, api, job_id, headers=None, query=""):
        self.channel, self.transport = api.send("GET", f"/jobs/{job_id}/events{query}",
                                                headers=headers)

    @property
    def raw(self):
        return self.transport.value()

    @property
    def head(self):
        return self.raw.partition(b"\r\n\r\n")[0].decode("latin-1")

    @property
    def body(self):
        return self._dechunked().decode("utf-8")

    def _dechunked(self):
        data = self.raw.partition(b"\r\n\r\n")[2]
        return dechunk(data + b"0\r\n\r\n") if not data.endswith(b"0\r\n\r\n") else dechunk(data)

    def events(self):
        """C{[(event, data, id)]}; comments as C{(":", text, None)}."""
        found = []
        for block in self.body.split("\n\n"):
            if not block:
                continue
            fields = {}
            for line in block.split("\n"):
                name, _, value = line.partition(":")
                fields.setdefault(name, value.strip())
            if "" in fields:
                found.append((":", fields[""], None))
            elif "event" in fields:
                found.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
        return found

    def named(self, name):
        return [e for e in self.events() if e[0] == name]

    @property
    def ended(self):
        return self.raw.endswith(b"0\r\n\r\n")

    def drop(self):
        self.channel.connectionLost(Exception("client went away"))


class Crawl:
    """A job on the FakeStore that a test finishes page by page."""

    def __init__(self, api, pages=2):
        self.api = api
        self.job_id = api.store.create([f"http://a.example/{i}" for i in range(pages)],
                                       OPTIONS, False).result
        api.store.heartbeat("w", 3600, pages)
        self.tasks, _ = run(api.store.lease(3600, pages))

    def finish(self, images):
        task = self.tasks.pop(0)
        found = [[f"http://a.example/{task.url[-1]}-{i}.png", ["img"], f"alt {i}"]
                 for i in range(images)]
        self.api.store.finish(task, "crawled", {"url": task.url, "depth": 0, "status": 200,
                                                "images": images}, found, [], task.url, 100)


def image_urls(stream):
    return [image["url"] for _, data, _ in stream.named("images") for image in data["images"]]


@pytest.fixture
def api():
    return ApiHarness(events_poll_seconds=0.5, events_heartbeat_seconds=15)


def test_a_finished_job_streams_its_images_progress_and_end(api):
    job_id = api.crawled_job(images=3)
    stream = Stream(api, job_id)
    assert "Content-Type: text/event-stream; charset=utf-8" in stream.head
    assert "Cache-Control: no-store" in stream.head
    assert stream.body.startswith("retry: 2000\n\n")
    assert [e[0] for e in stream.events()] == ["images", "progress", "end"]
    (_, batch, event_id), = stream.named("images")
    assert event_id == "3" and batch["offset"] == 0
    assert batch["images"][0] == {"url": "http://a.example/0.png", "sources": ["img", "srcset"],
                                  "found_on": ["http://a.example/0"], "alt": "alt 0"}
    (_, progress, _), = stream.named("progress")
    assert progress["status"] == "completed" and progress["stats"]["images_found"] == 3
    assert stream.named("end") == [("end", {"status": "completed"}, None)]
    assert stream.ended
    assert api.site.resource.api.streams.open == 0


def test_a_running_job_streams_images_as_they_are_found(api):
    crawl = Crawl(api, pages=2)
    stream = Stream(api, crawl.job_id)
    assert [e[0] for e in stream.events()] == ["progress"]
    assert stream.named("progress")[0][1]["stats"]["pages_admitted"] == 2

    crawl.finish(images=2)
    api.clock.advance(0.5)
    assert image_urls(stream) == ["http://a.example/0-0.png", "http://a.example/0-1.png"]
    assert stream.named("images")[-1][2] == "2"
    assert stream.named("progress")[-1][1]["stats"]["pages_crawled"] == 1
    assert not stream.ended

    api.clock.advance(0.5)      # nothing new: nothing sent
    assert len(stream.events()) == 3

    crawl.finish(images=1)
    api.clock.advance(0.5)
    assert image_urls(stream)[2:] == ["http://a.example/1-0.png"]
    assert [e[0] for e in stream.events()][-3:] == ["images", "progress", "end"]
    assert stream.named("progress")[-1][1]["status"] == "completed"
    assert stream.ended
    assert api.clock.getDelayedCalls() == []


@pytest.mark.parametrize(("headers", "query"), [
    ({"Last-Event-ID": "2"}, ""),
    (None, "?after=2"),
    ({"Last-Event-ID": " 2 "}, "?after=0"),     # the header wins
])
def test_a_resumed_stream_sends_only_the_images_after_its_offset(api, headers, query):
    job_id = api.crawled_job(images=5)
    stream = Stream(api, job_id, headers=headers, query=query)
    assert image_urls(stream) == ["http://a.example/2.png", "http://a.example/3.png",
                                  "http://a.example/4.png"]
    (_, batch, event_id), = stream.named("images")
    assert batch["offset"] == 2 and event_id == "5"


@pytest.mark.parametrize(("headers", "query"), [
    ({"Last-Event-ID": "-1"}, ""), ({"Last-Event-ID": "x"}, ""), (None, "?after=99999999999"),
])
def test_a_bad_offset_is_a_json_400(api, headers, query):
    job_id = api.crawled_job(images=1)
    response = api.get(f"/jobs/{job_id}/events{query}", headers=headers)
    assert (response.status, response.error()) == (400, "bad_cursor")


def test_many_images_go_in_bounded_batches(api):
    job_id = api.crawled_job(images=BATCH * 2 + 7)
    stream = Stream(api, job_id)
    batches = stream.named("images")
    assert [(len(data["images"]), data["offset"], event_id) for _, data, event_id in batches] == [
        (BATCH, 0, str(BATCH)), (BATCH, BATCH, str(2 * BATCH)), (7, 2 * BATCH, str(2 * BATCH + 7))]
    assert stream.ended


def test_a_quiet_stream_gets_a_heartbeat(api):
    crawl = Crawl(api, pages=1)
    stream = Stream(api, crawl.job_id)
    api.clock.advance(14.5)
    assert stream.named(":") == []
    api.clock.advance(0.5)
    assert stream.named(":") == [(":", "heartbeat", None)]
    api.clock.advance(15)
    assert len(stream.named(":")) == 2
    assert not stream.ended


def test_a_client_that_goes_away_stops_the_polling(api):
    crawl = Crawl(api, pages=1)
    stream = Stream(api, crawl.job_id)
    streams = api.site.resource.api.streams
    assert streams.open == 1 and api.clock.getDelayedCalls()
    stream.drop()
    assert streams.open == 0
    reads = len(api.store.called("images"))
    api.clock.advance(5)
    assert len(api.store.called("images")) == reads


def test_a_paused_client_gets_no_more_images_until_it_resumes(api):
    crawl = Crawl(api, pages=2)
    stream = Stream(api, crawl.job_id)
    stream.transport.producer.pauseProducing()      # its socket buffer is full
    crawl.finish(images=2)
    crawl.finish(images=1)
    api.clock.advance(1)
    assert image_urls(stream) == [] and not stream.ended
    stream.transport.producer.resumeProducing()
    api.clock.advance(0.5)
    assert len(image_urls(stream)) == 3 and stream.ended


def test_streams_beyond_the_cap_get_a_503():
    api = ApiHarness(events_max_streams=1)
    crawl = Crawl(api, pages=1)
    first = Stream(api, crawl.job_id)
    response = api.get(f"/jobs/{crawl.job_id}/events")
    assert (response.status, response.error()) == (503, "too_many_streams")
    assert response.header("retry-after") == "5"
    first.drop()
    again = Stream(api, crawl.job_id)
    assert "200 OK" in again.head


def test_an_unknown_job_is_a_404_and_the_token_is_required(api):
    assert api.get("/jobs/" + "0" * 32 + "/events").error() == "no_such_job"
    guarded = ApiHarness(api_token=("s3cret",))
    job_id = guarded.crawled_job(images=1)
    assert guarded.get(f"/jobs/{job_id}/events").status == 401
    stream = Stream(guarded, job_id, headers={"Authorization": "Bearer s3cret"})
    assert stream.ended and stream.named("end")


def test_a_job_that_expires_mid_stream_ends_it(api):
    crawl = Crawl(api, pages=1)
    stream = Stream(api, crawl.job_id)
    api.store.redis_state.delete(keys.job(crawl.job_id))
    api.clock.advance(0.5)
    assert stream.named("end") == [("end", {"status": None}, None)] and stream.ended
