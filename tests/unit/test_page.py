"""
GET / for browsers and for everyone else, and the page's static files,
through the real Site over a StringTransport (tests/unit/test_resources.py).
"""

import re

import pytest

from api.page import wants_html
from tests.unit.test_resources import ApiHarness

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@pytest.fixture
def api():
    return ApiHarness()


@pytest.mark.parametrize(("accept", "html"), [
    (BROWSER, True),
    ("text/html", True),
    ("text/*", True),
    ("text/html;q=0.5, application/json;q=0.4", True),
    (None, False),
    ("", False),
    ("*/*", False),                                 # curl
    ("application/json", False),
    ("application/json, text/html", False),         # a tie keeps JSON
    ("text/html;q=0", False),
    ("text/html;q=0.5, application/json", False),
    ("text/*;q=0.9, text/html;q=0, */*", False),    # the most specific range counts
    ("text/html;q=oops", False),
    ("garbage, ,;;", False),
])
def test_negotiation_prefers_html_only_when_asked_for(accept, html):
    assert wants_html(accept) is html


def test_a_browser_gets_the_page_with_its_security_headers(api):
    response = api.get("/", headers={"Accept": BROWSER})
    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("content-security-policy") == CSP
    assert response.header("x-content-type-options") == "nosniff"
    assert response.header("referrer-policy") == "no-referrer"
    assert response.header("vary") == "Accept"
    assert response.header("etag")
    assert b'id="urls"' in response.body and b'src="/static/app.js"' in response.body


@pytest.mark.parametrize("headers", [None, {"Accept": "*/*"}, {"Accept": "application/json"}])
def test_everyone_else_gets_todays_json(api, headers):
    response = api.get("/", headers=headers)
    assert response.json()["service"] == "imagecrawler"
    assert response.header("vary") == "Accept"
    assert response.header("content-security-policy") is None


def test_post_keeps_its_2015_meaning_even_from_a_browser(api):
    response = api.post("/", b"http://example.com/",
                        headers={"Accept": BROWSER, "Content-Type": "text/plain"})
    assert response.status == 201
    assert set(response.json()) == {"id", "status", "all_urls", "crawls_pending",
                                    "crawls_completed", "images"}


def test_the_page_needs_no_token_but_the_json_does():
    api = ApiHarness(api_token=("s3cret",))
    assert api.get("/", headers={"Accept": BROWSER}).status == 200
    assert api.get("/static/app.js").status == 200
    assert api.get("/", headers={"Accept": "*/*"}).status == 401


@pytest.mark.parametrize(("name", "content_type"), [
    ("app.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
    ("index.html", "text/html; charset=utf-8"),
])
def test_static_files_have_their_type_and_revalidate_with_an_etag(api, name, content_type):
    response = api.get(f"/static/{name}")
    assert response.status == 200
    assert response.header("content-type") == content_type
    assert response.header("x-content-type-options") == "nosniff"
    assert response.header("cache-control") == "no-cache"
    assert int(response.header("content-length")) == len(response.body) > 0
    etag = response.header("etag")
    again = api.get(f"/static/{name}", headers={"If-None-Match": etag})
    assert (again.status, again.body) == (304, b"")
    changed = api.get(f"/static/{name}", headers={"If-None-Match": '"other"'})
    assert changed.status == 200 and changed.body == response.body


def test_head_answers_the_headers_alone(api):
    response = api.request("HEAD", "/static/app.js")
    assert response.status == 200 and response.body == b""
    assert int(response.header("content-length")) > 0


@pytest.mark.parametrize("path", ["/static/", "/static/nope.js", "/static/../common/config.py",
                                  "/static/app.js/x", "/static/%2e%2e/api/page.py"])
def test_nothing_else_is_served(api, path):
    assert api.get(path).error() in ("not_found",)


def test_other_methods_are_a_json_405(api):
    response = api.post("/static/app.js", b"x")
    assert (response.status, response.error()) == (405, "method_not_allowed")


def test_the_page_loads_nothing_from_elsewhere(api):
    """No CDN, no inline code: every script and style is one of ours."""
    body = api.get("/", headers={"Accept": BROWSER}).body.decode()
    assert "http://" not in body and "https://" not in body
    assert "<script>" not in body and "<style" not in body and "style=" not in body
    assert re.search(r"\son[a-z]+\s*=", body) is None, "an inline event handler"
    for name in ("app.js", "app.css"):
        text = api.get(f"/static/{name}").body.decode()
        assert "http://" not in text and "https://" not in text
