"""
The whole flow on real processes: redis-server, the API, two workers and a
fixture website on 127.0.0.1.
"""

import gzip
import json

from tests.integration import sites
from tests.site import FixtureSite, endless, hang, page
from tests.wait import wait_for


def test_json_submission_finds_exact_images_and_pages(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(sites.ROUTES) as site:
        job_id = stack.client.submit([site.url("/")])
        job = stack.client.wait_done(job_id)
        images = stack.client.images(job_id)
        pages = stack.client.pages(job_id)

    assert job["status"] == "completed"
    expected_images = {site.url(p) for p in [*sites.HOME_IMAGES, *sites.DEPTH1_IMAGES]}
    assert set(images) == expected_images
    for path, kinds in sites.HOME_IMAGES.items():
        assert images[site.url(path)]["sources"] == kinds, path
    assert set(images[site.url("/img/a.png")]["found_on"]) == {site.url("/"), site.url("/a")}
    assert images[site.url("/img/a.png")]["alt"] == "Alpha"
    assert images[site.url("/sub/x.png")]["found_on"] == [site.url("/b")]
    assert images[site.url("/img/new.png")]["found_on"] == [site.url("/new")]

    assert {url: (p["depth"], p["status"]) for url, p in pages.items()} == {
        site.url(path): expected for path, expected in sites.DEPTH1_PAGES.items()}
    assert pages[site.url("/old")]["final_url"] == site.url("/new")
    assert pages[site.url("/old")]["redirects"] == [{"status": 301, "url": site.url("/new")}]
    assert pages[site.url("/photo.jpg")]["skipped"] == "not HTML"
    assert site.hits["/deep"] == 0 and site.hits["/img/a.png"] == 0

    assert job["stats"] == {
        "pages_admitted": 6, "pages_crawled": 4, "pages_failed": 1, "pages_skipped": 1,
        "pages_retried": 0, "images_found": len(expected_images), "pages_pending": 0,
    }
    assert job["urls"] == [site.url("/")]
    assert job["options"] == {"max_depth": 1, "scope": "host", "max_pages": 1000,
                              "host_concurrency": 4, "host_delay": 0.0,
                              "include": [], "exclude": [], "sitemaps": False,
                              "obey_nofollow": True, "callback_url": None,
                              "callback_events": ["completed", "cancelled", "failed"],
                              "callback_every_pages": 100}
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]


def test_curl_text_form_with_urls_run_together(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(sites.ROUTES) as site:
        body = (site.url("/") + site.url("/b") + "\n").encode()
        status, job = stack.client.json(
            "POST", "/jobs?max_depth=0", body, content_type="application/x-www-form-urlencoded")
        assert status == 201, job
        done = stack.client.wait_done(job["id"])
        pages = stack.client.pages(job["id"])
    assert job["urls"] == [site.url("/"), site.url("/b")]
    assert done["options"]["max_depth"] == 0
    assert {url: p["depth"] for url, p in pages.items()} == {site.url("/"): 0, site.url("/b"): 0}
    assert done["stats"]["pages_crawled"] == 2


def test_deeper_crawl_follows_depth_and_dedups(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(sites.ROUTES) as site:
        job_id = stack.client.submit([site.url("/"), site.url("/a")], max_depth=2)
        job = stack.client.wait_done(job_id)
        pages = stack.client.pages(job_id)
        hits = dict(site.hits)
    assert pages[site.url("/a")]["depth"] == 0
    assert pages[site.url("/deep")]["depth"] == 1
    assert pages[site.url("/deeper")]["depth"] == 2
    assert site.url("/new") not in pages, "a redirect target is not crawled twice"
    assert all(count == 1 for path, count in hits.items() if path not in ("/new", "/robots.txt")), hits
    assert job["stats"]["pages_admitted"] == len(pages)


def test_max_pages_bounds_the_job(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(sites.ROUTES) as site:
        job_id = stack.client.submit([site.url("/")], max_pages=3)
        job = stack.client.wait_done(job_id)
    assert job["stats"]["pages_admitted"] == 3
    assert len(stack.client.pages(job_id)) == 3


def test_cancel_stops_the_job(make_stack):
    stack = make_stack(workers=1, WORKER_CONCURRENCY=1, FETCH_TIMEOUT=30)
    routes = {"/": page("".join(f'<a href="/p{i}">{i}</a>' for i in range(50)))}
    routes.update({f"/p{i}": (200, {"Content-Type": "text/html"}, hang) for i in range(50)})
    with FixtureSite(routes) as site:
        job_id = stack.client.submit([site.url("/")])
        wait_for(lambda: site.hits["/p0"] + site.hits["/p1"], 30, "a hanging page to be fetched")
        status, job = stack.client.json("DELETE", f"/jobs/{job_id}")
        assert status == 200 and job["status"] == "cancelled"
        status, again = stack.client.json("DELETE", f"/jobs/{job_id}")
        assert status == 200 and again["status"] == "cancelled"
        site.release.set()
        fetched = sum(site.hits.values())
        assert fetched < 10
        assert stack.client.job(job_id)["status"] == "cancelled"
        assert stack.client.job(job_id)["stats"]["pages_crawled"] == 1


def test_two_jobs_at_once_do_not_mix(make_stack):
    stack = make_stack(workers=2)
    first_routes = {"/": page('<img src="/one.png"><a href="/x">x</a>'), "/x": page('<img src="/x1.png">')}
    second_routes = {"/": page('<img src="/two.png"><a href="/x">x</a>'), "/x": page('<img src="/x2.png">')}
    with FixtureSite(first_routes) as one, FixtureSite(second_routes) as two:
        first = stack.client.submit([one.url("/")])
        second = stack.client.submit([two.url("/")])
        stack.client.wait_done(first)
        stack.client.wait_done(second)
        assert set(stack.client.images(first)) == {one.url("/one.png"), one.url("/x1.png")}
        assert set(stack.client.images(second)) == {two.url("/two.png"), two.url("/x2.png")}


def test_legacy_endpoints_answer_in_the_old_shape(make_stack):
    stack = make_stack(workers=1)
    with FixtureSite(sites.ROUTES) as site:
        status, created = stack.client.json("POST", "/?max_depth=0", site.url("/b").encode(),
                                            content_type="text/plain")
        assert status == 201, created
        stack.client.wait_done(created["id"])
        status, old = stack.client.json("GET", f"/job/{created['id']}")
    assert status == 200
    assert old == {
        "id": created["id"], "status": "completed", "all_urls": [site.url("/b")],
        "crawls_pending": 0, "crawls_completed": 1, "images": [site.url("/sub/x.png")],
    }


def test_exports_stream_every_image(make_stack):
    stack = make_stack(workers=2)
    with FixtureSite(sites.ROUTES) as site:
        job_id = stack.client.submit([site.url("/")])
        stack.client.wait_done(job_id)
    txt = stack.client.lines(f"/jobs/{job_id}/images?format=txt")
    ndjson = [json.loads(line) for line in stack.client.lines(f"/jobs/{job_id}/images?format=ndjson")]
    csv_lines = stack.client.lines(f"/jobs/{job_id}/images?format=csv")
    assert len(txt) == len(ndjson) == len(csv_lines) - 1 == 19
    assert set(txt) == {image["url"] for image in ndjson}
    assert csv_lines[0].strip() == "url,sources,found_on,alt"

    status, first = stack.client.json("GET", f"/jobs/{job_id}/images?limit=10")
    status, rest = stack.client.json("GET", first["next"])
    assert len(first["images"]) == 10 and len(rest["images"]) == 9 and rest["next"] is None
    assert [i["url"] for i in first["images"] + rest["images"]] == txt

    status, listing = stack.client.json("GET", "/jobs")
    assert status == 200 and listing["jobs"][0]["id"] == job_id


def test_private_addresses_are_refused_by_default(make_stack):
    stack = make_stack(workers=1, ALLOW_PRIVATE_NETWORKS=0)
    with FixtureSite(sites.ROUTES) as site:
        job_id = stack.client.submit([site.url("/")])
        job = stack.client.wait_done(job_id)
        pages = stack.client.pages(job_id)
        assert sum(site.hits.values()) == 0
    assert job["stats"]["pages_failed"] == 1
    assert "loopback" in pages[site.url("/")]["error"]


def test_robots_txt_is_obeyed(make_stack):
    stack = make_stack(workers=2)
    routes = {
        "/robots.txt": (200, {"Content-Type": "text/plain"},
                        b"User-agent: *\nDisallow: /private\n\nUser-agent: OtherBot\nDisallow: /\n"),
        "/": page('<img src="/pub.png"><a href="/private/x">p</a><a href="/open">o</a>'),
        "/private/x": page('<img src="/secret.png">'),
        "/open": page('<img src="/open.png">'),
    }
    with FixtureSite(routes) as site:
        job_id = stack.client.submit([site.url("/")])
        job = stack.client.wait_done(job_id)
        pages = stack.client.pages(job_id)
        assert site.hits["/private/x"] == 0
        assert 1 <= site.hits["/robots.txt"] <= 2, "once per worker at most"
    assert pages[site.url("/private/x")]["skipped"] == "robots.txt"
    assert set(stack.client.images(job_id)) == {site.url("/pub.png"), site.url("/open.png")}
    assert job["stats"]["pages_skipped"] == 1 and job["stats"]["pages_crawled"] == 2


def test_hostile_servers_fail_or_truncate_alone(make_stack):
    """Endless bodies, a gzip bomb, a redirect loop and a server that does
    not speak HTTP: each page ends bounded, the job completes."""
    stack = make_stack(workers=1, MAX_BODY_BYTES=256 * 1024, MAX_REDIRECTS=3, MAX_ATTEMPTS=1)
    bomb = gzip.compress(b'<img src="/bomb.png">' + b" " * (64 * 1024 * 1024))
    routes = {
        "/": page("".join(f'<a href="{p}">{p}</a>' for p in ("/endless", "/bomb", "/loop", "/noise"))),
        "/endless": (200, {"Content-Type": "text/html"}, endless(b'<img src="/first.png">')),
        "/bomb": (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb),
        "/loop": (302, {"Location": "/loop2"}, b""),
        "/loop2": (302, {"Location": "/loop"}, b""),
        "/noise": (None, {}, b"\x00\xff garbage, not HTTP\r\n\r\n" * 100),
    }
    with FixtureSite(routes) as site:
        job, pages, images = stack.client.crawl([site.url("/")], timeout=120)
    assert job["status"] == "completed"
    assert pages[site.url("/endless")]["truncated"] is True
    assert pages[site.url("/bomb")]["truncated"] is True
    assert {site.url("/first.png"), site.url("/bomb.png")} <= set(images)
    assert "redirects" in pages[site.url("/loop")]["error"]
    assert pages[site.url("/noise")]["status"] == "error"
    assert all(w.alive for w in stack.workers)


def test_finished_jobs_keep_results_for_their_time_to_live(make_stack, redis_server):
    stack = make_stack(workers=1, JOB_TTL_SECONDS=3600)
    with FixtureSite(sites.ROUTES) as site:
        job_id = stack.client.submit([site.url("/b")], max_depth=0)
        stack.client.wait_done(job_id)
    for part in ("", ":page", ":pages", ":image", ":images"):
        assert 0 < redis_server.command("TTL", f"ic:job:{job_id}{part}") <= 3600, part
    for part in (":frontier", ":seen", ":attempts", ":pushes"):
        assert redis_server.command("EXISTS", f"ic:job:{job_id}{part}") == 0, part
    assert stack.client.images(job_id), "results are still there"
