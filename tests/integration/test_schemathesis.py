"""
Schemathesis against a live API: the real api process, a real Redis, no
worker.  Every operation of /openapi.json is fuzzed with valid and invalid
data (positive and negative generation; the coverage phase adds each
parameter's boundaries and blank values), then the stateful phase follows
the document's links (create a job, read it, list its images and pages,
cancel it).  No answer may be a 5xx or break the document.

No worker runs, so nothing is ever fetched: the URLs schemathesis makes up
only go into Redis.  Hypothesis is derandomized and the examples bounded,
so a run is the same every time and takes about a minute on 2 cores.

Checks: not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance,
response_headers_conformance and negative_data_rejection everywhere;
positive_data_acceptance everywhere but the two job submissions, whose
URLs the document can only describe as strings (whether one is a URL the
crawler takes is the API's to decide: a 422 for a made-up string is right).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi import checks as openapi_checks

from tests.stack import RedisServer, Stack

load_all_checks()
MAX_EXAMPLES = 40
SUBMISSIONS = {("POST", "/jobs"), ("POST", "/")}
CHECKS = [schemathesis.checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance,
          openapi_checks.response_headers_conformance, openapi_checks.negative_data_rejection]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("schemathesis")
    redis = RedisServer(workdir).start()
    # Quick heartbeats, so that a stream of a live job shows its first event at once.
    running = Stack(workdir, redis, EVENTS_HEARTBEAT_SECONDS="1").start(workers=0)
    yield running
    running.stop()
    redis.stop()
    print(running.logs())


@pytest.fixture(scope="module")
def api_schema(stack):
    config = SchemathesisConfig.from_dict({
        "seed": 1, "base-url": stack.client.base,
        # An event stream of a job that no worker crawls never ends: read its first events.
        "max-stream-events": 2, "request-timeout": 5,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
    })
    return schemathesis.openapi.from_url(f"{stack.client.base}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def _checks(case):
    if (case.method.upper(), case.path) in SUBMISSIONS:
        return CHECKS
    return [*CHECKS, openapi_checks.positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation(case):
    case.call_and_validate(checks=_checks(case))


def test_stateful(api_schema):
    machine = api_schema.as_state_machine()

    class Machine(machine):
        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=_checks(case))

    Machine.run(settings=settings(max_examples=15, stateful_step_count=6, deadline=None,
                                  derandomize=True, suppress_health_check=list(HealthCheck)))
