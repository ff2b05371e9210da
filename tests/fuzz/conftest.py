"""Hypothesis profiles for the fuzz tests.

"ci", the default, keeps the run short and the same on every machine:
few examples, derandomized (CI fails or passes on the same inputs each
time), no deadline and no "too slow" health check (a loaded CI runner must
not turn slowness into failures), and no example database.  "deep" is for
long local runs looking for new failures: ``HYPOTHESIS_PROFILE=deep``.
A failing input it finds goes into corpus/ (README.rst says how).
"""

import os
import warnings

import pytest
from bs4 import MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", max_examples=5000, deadline=None, database=None, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _quiet_parser():
    """worker.extract silences BeautifulSoup's "looks like XML" and "looks
    like a URL" warnings at import, but pytest restores the warning filters
    after collection, and random pages trigger both."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)
        warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
        yield
