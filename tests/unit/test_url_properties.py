"""
Every URL that the normaliser admits can be requested, or fails cleanly.

The crawler fetches whatever L{normalize} and L{resolve} return.  A URL
they admit that the HTTP client cannot express raised inside the fetch,
so its page was never recorded and its task held a worker slot until its
lease ran out, three times over.  Here each admitted URL must reach treq's
agent exactly as L{request_url} says, then go through the production
client (L{make_client}: treq, Twisted's Agent, the address guard) on a
memory reactor whose resolver knows no name: the fetch must fail with "no
address" after asking for exactly the URL's host, or, for an https host
that TLS cannot name, with L{UnusableHost} before any lookup.

Hypothesis builds URLs from the pieces that once broke it (IPv6 literals,
"_" and symbol labels, empty and long labels, userinfo, odd ports), for a
bounded number of examples; tests/fuzz/corpus/urls.txt keeps the inputs
that did, and every run replays them.
"""

import dataclasses
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from treq.client import HTTPClient
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.web.client import URI
from twisted.web.iweb import IAgent
from zope.interface import implementer

from common.config import from_env
from common.urls import normalize, resolve
from worker.fetch import Fetcher, make_client, request_url
from common.safety import UnusableHost

CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus" / "urls.txt"
CONFIG = dataclasses.replace(from_env({}), fetch_timeout=5)
BASES = ("http://a.test/dir/page", "https://[2001:db8::1]:8443/x/", "http://a_b.test/?q=1")
# As the fuzz tests' "ci" profile (tests/fuzz/README.rst): the same inputs
# on every run and machine, nothing written to disk, a few seconds.
BOUNDED = settings(deadline=None, max_examples=300, derandomize=True, database=None)


@implementer(IAgent)
class Recorder:
    """An agent that notes the URI of every request, and never answers."""

    def __init__(self):
        self.uris = []

    def request(self, method, uri, headers=None, bodyProducer=None):
        self.uris.append(uri)
        return Deferred()


def sent_by_treq(url):
    """The URI that the fetcher, through treq, hands its agent for C{url}."""
    agent = Recorder()
    Fetcher(HTTPClient(agent), Clock(), CONFIG).fetch(url)
    return agent.uris


class NoNames:
    """A resolver that knows no name, and notes every one it is asked for."""

    def __init__(self):
        self.asked = []

    def resolveHostName(self, receiver, hostName, portNumber=0, *args, **kwargs):
        self.asked.append((hostName, portNumber))
        receiver.resolutionBegan(None)
        receiver.resolutionComplete()


def outcome_of(url):
    """Fetch C{url} with the production client; its failure and the names asked."""
    reactor = MemoryReactorClock()
    reactor.nameResolver = NoNames()
    outcome = []
    Fetcher(make_client(reactor, CONFIG), reactor, CONFIG).fetch(url).addBoth(outcome.append)
    assert outcome, f"the fetch of {url!r} is still waiting"
    assert isinstance(outcome[0], Failure), outcome[0]
    return outcome[0], reactor.nameResolver.asked


def check_requestable(url):
    """The whole property, for one URL that the normaliser returned."""
    parts = urlsplit(url)
    port = {"http": 80, "https": 443}[parts.scheme] if parts.port is None else parts.port
    sent = request_url(url)
    assert sent == url.encode("ascii"), (url, sent)     # no userinfo is ever kept
    assert all(0x21 <= byte <= 0x7E for byte in sent), sent
    assert sent_by_treq(url) == [sent], url
    uri = URI.fromBytes(sent)
    assert (uri.host.decode().strip("[]"), uri.port) == (parts.hostname, port), sent
    if not _is_ip(parts.hostname):
        parts.hostname.encode("idna")   # what getaddrinfo() does first, and may raise
    failure, asked = outcome_of(url)
    if failure.check(UnusableHost):
        assert (parts.scheme, asked) == ("https", []), (url, asked)
        return
    assert failure.check(DNSLookupError), (url, failure)
    assert asked == [(parts.hostname, port)], (url, asked)


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- the inputs ----------------------------------------------------------------------------

_LABEL_PIECES = st.sampled_from(
    list("abz09-_!$&'()*+,;=~`{}\"") + ["ß", "☃", "ü", "画", "\u3002", "Ａ", "%41", "%5F", "xn--"])
_LABELS = st.lists(_LABEL_PIECES, max_size=8).map("".join) | st.integers(60, 70).map("a".__mul__)
_DOMAINS = st.lists(_LABELS, min_size=1, max_size=4).map(".".join)
_IPV4 = st.ip_addresses(v=4).map(str) | st.sampled_from(
    ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "127.0.0.1.", "0", "%31%32%37.0.0.1"])
_IPV6 = (st.ip_addresses(v=6).map(str)
         | st.ip_addresses(v=4).map("::ffff:{}".format)
         | st.ip_addresses(v=4).map("64:ff9b::{}".format)
         | st.sampled_from(["fe80::1%25eth0", "::", "v1.x"])).map("[{}]".format)
_HOSTS = st.one_of(_DOMAINS, _IPV4, _IPV6)
_USERINFO = st.none() | st.text(alphabet="ab:@%[]/.", max_size=8)
_PORTS = st.none() | st.integers(0, 70000).map(str) | st.sampled_from(["", "x", "080"])
_REST = st.text(alphabet="ab/?#.%@:[]\\ é", max_size=10)


@st.composite
def urls(draw):
    """Absolute URL text, mostly well-formed enough for the normaliser to admit."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "hTTps"]))
    userinfo = draw(_USERINFO)
    port = draw(_PORTS)
    return "".join((
        scheme, "://", "" if userinfo is None else userinfo + "@", draw(_HOSTS),
        "" if port is None else ":" + port, "/", draw(_REST)))


def _corpus():
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


# --- the property --------------------------------------------------------------------------


@BOUNDED
@given(urls())
def test_every_normalised_url_can_be_requested(text):
    url = normalize(text)
    if url is not None:
        check_requestable(url)


@BOUNDED
@given(st.sampled_from(BASES).map(normalize), urls() | _REST | st.text(max_size=20))
def test_every_resolved_reference_can_be_requested(base, ref):
    url = resolve(ref, base)
    if url is not None:
        check_requestable(url)


@pytest.mark.parametrize("text", _corpus())
def test_the_inputs_that_once_failed(text):
    for url in (normalize(text), *(resolve(text, normalize(base)) for base in BASES)):
        if url is not None:
            check_requestable(url)


def test_the_corpus_still_exercises_the_fetch():
    """Most of its inputs are admitted, so the property above is not vacuous."""
    admitted = [text for text in _corpus() if normalize(text) is not None]
    assert len(admitted) >= 25
