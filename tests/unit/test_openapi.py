"""
The OpenAPI document (api/openapi.py): valid OpenAPI 3.1, complete (every
route the resource tree serves, every job option), and in step with the
configuration that validation reads.  Real answers of the in-process API
are checked against its schemas too; tests/integration/test_schemathesis.py
does that at length against a live stack.
"""

import ast
import dataclasses
import inspect
import re
import textwrap

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from twisted.web.test.requesthelper import DummyRequest

from api import input as api_input
from api import openapi
from api.http import NotFound
from api.resources import MAX_CURSOR, MAX_PAGE_SIZE, Root
from common.config import from_env
from tests.unit.test_resources import ApiHarness

# A job id no job has: it reaches the resources that take a job id.
SOME_ID = "0" * 32
METHODS = ("GET", "POST", "DELETE")


def config(**settings):
    return dataclasses.replace(from_env({}), **settings)


def schema_of(doc, name):
    """A validator for component C{name}, its C{$ref}s resolved in C{doc}."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                 "components": doc["components"]})


@pytest.mark.parametrize("settings", [{}, {"api_token": ("t1",), "metrics_token": ("m",)},
                                      {"client_pages_per_hour": 0, "max_start_urls": 3}])
def test_the_document_is_valid_openapi_3_1(settings):
    doc = openapi.document(config(**settings))
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_tokens_make_every_operation_but_the_open_ones_need_a_bearer_token():
    doc = openapi.document(config(api_token=("t1",)))
    assert doc["security"] == [{"bearer": []}]
    open_paths = {path for path, item in doc["paths"].items()
                  if all(op.get("security") == [] for op in item.values())}
    assert open_paths == {"/healthz", "/readyz", "/openapi.json", "/static/{name}"}
    assert "security" not in openapi.document(config())


# --- every route is described ------------------------------------------------------------


def _literals(resource):
    """The names a resource's getChild compares the path with (C{if path == b"x"})."""
    source = textwrap.dedent(inspect.getsource(type(resource).getChild))
    return {node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes) and node.value}


def _child(resource, name, rest=()):
    request = DummyRequest([name, *rest])
    request.postpath = list(rest)
    return resource.getChildWithDefault(name, request)


def _routes(resource, path="", depth=0):
    """(path, methods) for every resource reachable from C{resource}; a segment
    that takes any value (a job id) is probed with L{SOME_ID}.  What answers
    404 to everything (L{NotFound} and its kin) is no route."""
    methods = set() if isinstance(resource, NotFound) else {
        m for m in METHODS if callable(getattr(resource, m, None))}
    found = [(path or "/", methods)] if methods else []
    names = {*resource.children, *_literals(resource),
             *(name.encode() for name in getattr(resource, "files", ())), SOME_ID.encode()}
    for name in sorted(names):
        child = _child(resource, name)
        if type(child) is not NotFound and child is not resource and depth < 4:
            found += _routes(child, f"{path}/{name.decode()}", depth + 1)
    return found


def _described(doc, path):
    """The document's path template that matches C{path}, and its methods."""
    for template, item in doc["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return template, {method.upper() for method in item}
    return None, set()


def test_every_route_of_the_resource_tree_is_described():
    api = ApiHarness()
    root = api.site.resource
    assert isinstance(root, Root)
    doc = openapi.document(api.config)
    routes = _routes(root)
    served = {path for path, _ in routes}
    assert {"/", "/jobs", f"/jobs/{SOME_ID}", f"/jobs/{SOME_ID}/images", "/openapi.json",
            f"/job/{SOME_ID}", "/healthz", "/readyz", "/metrics"} <= served, served
    for path, methods in routes:
        template, documented = _described(doc, path)
        assert template is not None, f"{path} is served but not in the OpenAPI document"
        assert methods <= documented, f"{path} serves {methods}, described: {documented}"


def test_the_walk_reaches_the_dynamic_routes():
    served = {path for path, _ in _routes(ApiHarness().site.resource)}
    assert {f"/jobs/{SOME_ID}/pages", f"/jobs/{SOME_ID}/events", "/static/app.js"} <= served


# --- options and limits ------------------------------------------------------------------


def _submission(doc):
    return doc["components"]["schemas"]["Submission"]["properties"]


def test_every_option_that_validation_takes_is_in_the_post_jobs_schema():
    doc = openapi.document(config())
    assert set(api_input.OPTIONS) <= set(_submission(doc)), "describe it in option_schemas"
    query = {p["name"] for p in doc["paths"]["/jobs"]["post"]["parameters"]}
    assert query == set(api_input.OPTIONS)
    assert set(_submission(doc)) == {"urls", *api_input.OPTIONS}


def test_limits_come_from_the_configuration():
    settings = dict(max_depth_limit=7, max_pages_limit=500, default_max_pages=50,
                    client_pages_per_hour=0, max_start_urls=3, max_host_concurrency=9,
                    max_patterns=4, max_pattern_length=33)
    doc = openapi.document(config(**settings))
    options = _submission(doc)
    assert options["max_depth"]["anyOf"][0]["maximum"] == 7
    assert options["max_pages"]["maximum"] == 500 and options["max_pages"]["default"] == 50
    assert options["host_concurrency"]["maximum"] == 9
    assert options["host_delay"]["maximum"] == api_input.MAX_HOST_DELAY
    assert doc["components"]["schemas"]["UrlList"]["maxItems"] == 3
    listed = options["include"]["anyOf"][0]
    assert listed["maxItems"] == 4 and listed["items"]["maxLength"] == 33
    parameters = doc["components"]["parameters"]
    assert parameters["Limit"]["schema"]["maximum"] == MAX_PAGE_SIZE
    assert parameters["Cursor"]["schema"]["maximum"] == MAX_CURSOR


def test_max_pages_is_bounded_by_the_hourly_page_budget_when_it_is_on():
    doc = openapi.document(config(max_pages_limit=500, default_max_pages=50,
                                  client_pages_per_hour=200))
    assert _submission(doc)["max_pages"]["maximum"] == 200


def test_each_limit_is_where_validation_draws_the_line():
    """One past each documented bound is a 422 from the API, the bound itself is not."""
    api = ApiHarness(max_start_urls=3, max_pages_limit=500, default_max_pages=50,
                     client_pages_per_hour=0)
    options = _submission(openapi.document(api.config))
    url = "http://a.example/"
    for name, high in (("max_pages", options["max_pages"]["maximum"]),
                       ("max_depth", options["max_depth"]["anyOf"][0]["maximum"]),
                       ("host_concurrency", options["host_concurrency"]["maximum"])):
        assert api.post("/jobs", {"urls": [url], name: high}).status == 201, name
        assert api.post("/jobs", {"urls": [url], name: high + 1}).status == 422, name
    many = [f"{url}{i}" for i in range(4)]
    assert api.post("/jobs", {"urls": many[:3]}).status == 201
    assert api.post("/jobs", {"urls": many}).status == 422


# --- served, and what the API answers matches it ---------------------------------------------


def test_served_without_a_token_even_when_tokens_are_on():
    api = ApiHarness(api_token=("secret",))
    response = api.get("/openapi.json")
    assert response.status == 200
    assert response.json() == openapi.document(api.config)
    assert api.get("/jobs").status == 401


def test_real_answers_match_their_schemas():
    api = ApiHarness()
    doc = openapi.document(api.config)
    created = api.post("/jobs", {"urls": ["http://a.example/"], "include": ["/a/"]})
    assert created.status == 201
    schema_of(doc, "Job").validate(created.json())
    job_id = api.crawled_job(images=2)
    schema_of(doc, "ImageList").validate(api.get(f"/jobs/{job_id}/images").json())
    schema_of(doc, "PageList").validate(api.get(f"/jobs/{job_id}/pages").json())
    schema_of(doc, "JobList").validate(api.get("/jobs?limit=1").json())
    schema_of(doc, "LegacyJob").validate(api.get(f"/job/{job_id}").json())
    schema_of(doc, "Service").validate(api.get("/").json())
    schema_of(doc, "Ready").validate(api.get("/readyz").json())
    for status, path in ((404, f"/jobs/{SOME_ID}"), (400, "/jobs?cursor=-1")):
        response = api.get(path)
        assert response.status == status
        schema_of(doc, "Error").validate(response.json())


def test_unauthorized_looks_as_described():
    api = ApiHarness(api_token=("secret",))
    doc = openapi.document(api.config)
    response = api.get("/jobs")
    described = doc["components"]["responses"]["Unauthorized"]
    assert response.header("www-authenticate") == described["headers"]["WWW-Authenticate"][
        "schema"]["const"]
    schema_of(doc, "Error").validate(response.json())


# --- what schemathesis found -------------------------------------------------------------


@pytest.mark.parametrize("query", ["max_depth=", "sitemaps=", "max_depth=-5"])
def test_a_bad_query_option_is_refused_even_when_the_body_sets_it(query):
    api = ApiHarness()
    body = {"urls": ["http://a.example/"], "max_depth": 1, "sitemaps": True}
    response = api.post(f"/jobs?{query}", body)
    assert response.status == 422, response.body
    assert response.error() == "bad_option"


def test_the_legacy_job_has_no_delete_and_no_lists():
    api = ApiHarness()
    job_id = api.crawled_job()
    assert api.delete(f"/job/{job_id}").status == 405
    assert api.get(f"/job/{job_id}/images").status == 404
