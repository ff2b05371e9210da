"""
The address guard attacked from a real client, with real targets listening.

Each vector is a URL that must never reach a blocked address: IP
spellings, IPv6 forms, names resolving to blocked addresses, redirects from
an allowed fixture, userinfo tricks, ports.  A target server listens on
ports 80, 443, 8080 and 6379 of every blocked address the namespace can
hold (they are added to its loopback interface) and counts connections: it
must see none.  Controls fetch a few of the same URLs with the guard lifted
and must reach it, which shows that the target is really there.

Run as root, this module re-executes itself under ``unshare --net --mount``:
a network namespace with nothing but its own loopback interface, and a
mount namespace where a hosts file of its own maps test names to blocked
addresses for the system resolver.  The child runs every vector through
the real L{Fetcher} and L{make_client} on a real reactor, the guard opened
for the fixture only (C{ALLOW_NETWORKS=127.0.0.2/32}), and prints the
outcomes as JSON; the tests here check them.  Not root: skipped.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from twisted.internet.defer import ensureDeferred
from twisted.internet.error import CannotListenError, DNSLookupError
from twisted.internet.task import react
from twisted.logger import capturedLogs, formatEvent
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.util import redirectTo

from common.config import from_env
from common.urls import InvalidURL, check_start_url
from worker.fetch import Fetcher, make_client
from common.safety import BlockedAddress

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = "http://127.0.0.2:8000"
PORTS = (80, 443, 8080, 6379)
ADDRESSES = (
    "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "198.18.0.1", "192.0.0.1",
    "192.0.2.1", "169.254.169.254", "fd00:ec2::254", "fc00::1", "fec0::1", "2001:db8::1",
    "2002:a00:1::", "2002:7f00:1::", "64:ff9b::a00:1", "64:ff9b::7f00:1",
    "2001:0:808:808::80ff:fffe", "::ffff:0:a00:1",
)
HOSTS = """\
127.0.0.1 localhost app.localhost
::1 localhost ip6-localhost
10.0.0.1 internal.test mixed.test
127.0.0.1 mixed.test
169.254.169.254 metadata.google.internal
fd00:ec2::254 metadata6.test
::ffff:127.0.0.1 mapped.test
2002:a00:1:: sixtofour.test
64:ff9b::a00:1 nat64.test
0.0.0.0 zero.test
127.0.0.2 fixture.test
"""
LOOPBACK, PRIVATE, LINK_LOCAL = ("blocked: loopback address", "blocked: private address",
                                 "blocked: link-local address")
MULTICAST, RESERVED = "blocked: multicast address", "blocked: reserved address"

# (id, URL, expected outcome: the start of what the child reports)
DIRECT = [
    ("loopback", "http://127.0.0.1/", LOOPBACK),
    ("loopback-https", "https://127.0.0.1/", LOOPBACK),
    ("loopback-top", "http://127.255.255.254/", LOOPBACK),
    ("short-two", "http://127.1/", LOOPBACK),
    ("short-three", "http://127.0.1/", LOOPBACK),
    ("decimal", "http://2130706433/", LOOPBACK),
    ("hex", "http://0x7f000001/", LOOPBACK),
    ("hex-dotted", "http://0x7f.0x0.0x0.0x1/", LOOPBACK),
    ("hex-upper", "http://0X7F.1/", LOOPBACK),
    ("octal", "http://0177.0.0.1/", LOOPBACK),
    ("octal-whole", "http://017700000001/", LOOPBACK),
    ("zero-padded", "http://127.000.000.001/", LOOPBACK),
    ("trailing-dot", "http://127.0.0.1./", LOOPBACK),  # the URL Standard reads it as IPv4
    ("percent-encoded", "http://%31%32%37.0.0.1/", LOOPBACK),
    ("fullwidth", "http://１２７.０.０.１/", LOOPBACK),
    ("ideographic-dots", "http://127。0。0。1/", LOOPBACK),
    ("tab-in-host", "http://127.0.\t0.1/", LOOPBACK),
    ("unspecified", "http://0.0.0.0/", RESERVED),
    ("zero", "http://0/", RESERVED),
    ("this-network", "http://0.1.2.3/", RESERVED),
    ("private-10", "http://10.0.0.1/", PRIVATE),
    ("private-10-decimal", "http://167772161/", PRIVATE),
    ("private-172", "http://172.16.0.1/", PRIVATE),
    ("private-192", "http://192.168.1.1/", PRIVATE),
    ("carrier-nat", "http://100.64.0.1/", PRIVATE),
    ("benchmarking", "http://198.18.0.1/", PRIVATE),
    ("ietf", "http://192.0.0.1/", PRIVATE),
    ("documentation", "http://192.0.2.1/", PRIVATE),
    ("metadata", "http://169.254.169.254/latest/meta-data/", LINK_LOCAL),
    ("metadata-decimal", "http://2852039166/", LINK_LOCAL),
    ("metadata-hex", "http://0xa9fea9fe/", LINK_LOCAL),
    ("metadata-octal", "http://0251.0376.0251.0376/", LINK_LOCAL),
    ("metadata-short", "http://169.254.43518/", LINK_LOCAL),
    ("multicast", "http://224.0.0.1/", MULTICAST),
    ("multicast-ssdp", "http://239.255.255.250:1900/", MULTICAST),
    ("broadcast", "http://255.255.255.255/", RESERVED),
    ("reserved", "http://240.0.0.1/", RESERVED),
    ("v6-loopback", "http://[::1]/", LOOPBACK),
    ("v6-loopback-long", "http://[0:0:0:0:0:0:0:1]:8080/", LOOPBACK),
    ("v6-unspecified", "http://[::]/", RESERVED),
    ("v4-mapped", "http://[::ffff:127.0.0.1]/", LOOPBACK),
    ("v4-mapped-hex", "http://[::ffff:7f00:1]/", LOOPBACK),
    ("v4-mapped-metadata", "http://[::ffff:169.254.169.254]/", LINK_LOCAL),
    ("v4-compatible", "http://[::127.0.0.1]/", LOOPBACK),
    ("v4-compatible-private", "http://[::10.0.0.1]/", PRIVATE),
    ("v4-translated", "http://[::ffff:0:10.0.0.1]/", PRIVATE),
    ("6to4-loopback", "http://[2002:7f00:1::]/", LOOPBACK),
    ("6to4-private", "http://[2002:a00:1::]/", PRIVATE),
    ("6to4-metadata", "http://[2002:a9fe:a9fe::1]/", LINK_LOCAL),
    ("nat64-loopback", "http://[64:ff9b::127.0.0.1]/", LOOPBACK),
    ("nat64-private", "http://[64:ff9b::a00:1]/", PRIVATE),
    ("nat64-metadata", "http://[64:ff9b::a9fe:a9fe]/", LINK_LOCAL),
    ("nat64-local-use", "http://[64:ff9b:1::808:808]/", PRIVATE),
    ("teredo-loopback", "http://[2001:0:808:808::80ff:fffe]/", LOOPBACK),
    ("teredo-private", "http://[2001:0:808:808::f5ff:fffe]/", PRIVATE),
    ("unique-local", "http://[fc00::1]/", PRIVATE),
    ("metadata-v6", "http://[fd00:ec2::254]/", PRIVATE),
    ("site-local", "http://[fec0::1]/", PRIVATE),
    ("link-local-v6", "http://[fe80::1]/", LINK_LOCAL),
    ("zone-id", "http://[fe80::1%25lo]/", "invalid"),
    ("zone-id-raw", "http://[fe80::1%lo]/", "invalid"),
    ("v6-multicast", "http://[ff02::1]/", MULTICAST),
    ("v6-documentation", "http://[2001:db8::1]/", PRIVATE),
    ("localhost", "http://localhost/", LOOPBACK),
    ("localhost-upper", "http://LOCALHOST:8080/", LOOPBACK),
    ("localhost-trailing-dot", "http://localhost./", "unresolved"),
    ("ip6-localhost", "http://ip6-localhost/", LOOPBACK),
    ("sub-localhost", "http://app.localhost/", LOOPBACK),
    ("internal-name", "http://internal.test/", PRIVATE),
    ("internal-fullwidth", "http://ＩＮＴＥＲＮＡＬ.test/", PRIVATE),
    ("metadata-name", "http://metadata.google.internal/computeMetadata/v1/", LINK_LOCAL),
    ("metadata-v6-name", "http://metadata6.test/", PRIVATE),
    ("name-private-and-loopback", "http://mixed.test/", "blocked: "),   # either, first
    ("name-v4-mapped", "http://mapped.test/", LOOPBACK),
    ("name-6to4", "http://sixtofour.test/", PRIVATE),
    ("name-nat64", "http://nat64.test/", PRIVATE),
    ("name-zero", "http://zero.test/", RESERVED),
    ("userinfo-host", "http://example.com@127.0.0.1/", LOOPBACK),
    ("userinfo-fixture", "http://127.0.0.2:8000@127.0.0.1/", LOOPBACK),
    ("userinfo-credentials", "http://user:pass@10.0.0.1/", PRIVATE),
    ("userinfo-two-ats", "http://a@b@169.254.169.254/", LINK_LOCAL),
    ("userinfo-name", "http://fixture.test@localhost/", LOOPBACK),
    ("userinfo-encoded-at", "http://127.0.0.1%40127.0.0.2:8000/", "invalid"),
    ("userinfo-on-fixture", "http://127.0.0.1@127.0.0.2:8000/", "HTTP 200"),
    ("backslash-ends-host", "http://127.0.0.2:8000\\@127.0.0.1/", "HTTP 200"),
    ("port-ssh", "http://127.0.0.1:22/", LOOPBACK),
    ("port-zero", "http://127.0.0.1:0/", LOOPBACK),
    ("port-leading-zeros", "http://127.0.0.1:0080/", LOOPBACK),
    ("port-fixture-on-loopback", "http://127.0.0.1:8000/", LOOPBACK),
    ("port-redis", "http://127.0.0.1:6379/", LOOPBACK),
    ("port-v6-redis", "http://[::1]:6379/", LOOPBACK),
    ("port-private-8080", "http://10.0.0.1:8080/", PRIVATE),
    ("port-https-on-80", "https://10.0.0.1:80/", PRIVATE),
    ("port-out-of-range", "http://127.0.0.1:65536/", "invalid"),
]


def _via(target, code=302, hops=0, fixture=FIXTURE):
    """A fixture URL that redirects C{hops} times to itself, then to C{target}."""
    return f"{fixture}/hops/{hops}/{code}?to={quote(target, safe='')}"


# Redirects from the allowed fixture: (id, URL, expected, fixture requests)
REDIRECTS = [
    ("redirect-loopback", _via("http://127.0.0.1/"), LOOPBACK, 1),
    ("redirect-301-localhost", _via("http://localhost:6379/", 301), LOOPBACK, 1),
    ("redirect-303-v6", _via("http://[::1]/", 303), LOOPBACK, 1),
    ("redirect-307-metadata", _via("http://169.254.169.254/latest/", 307), LINK_LOCAL, 1),
    ("redirect-308-private", _via("http://10.0.0.1:8080/", 308), PRIVATE, 1),
    ("redirect-decimal", _via("http://2130706433/"), LOOPBACK, 1),
    ("redirect-hex-port", _via("http://0x7f.1:8080/"), LOOPBACK, 1),
    ("redirect-v4-mapped", _via("http://[::ffff:127.0.0.1]/"), LOOPBACK, 1),
    ("redirect-6to4", _via("http://[2002:a00:1::]/"), PRIVATE, 1),
    ("redirect-nat64", _via("http://[64:ff9b::a00:1]/"), PRIVATE, 1),
    ("redirect-metadata-v6", _via("http://[fd00:ec2::254]/"), PRIVATE, 1),
    ("redirect-name", _via("http://internal.test/"), PRIVATE, 1),
    ("redirect-userinfo", _via("http://example.com@127.0.0.1/"), LOOPBACK, 1),
    ("redirect-userinfo-fixture", _via("http://127.0.0.2:8000@127.0.0.1/"), LOOPBACK, 1),
    ("redirect-scheme-relative", _via("//127.0.0.1/"), LOOPBACK, 1),
    ("redirect-https", _via("https://127.0.0.1/"), LOOPBACK, 1),
    ("redirect-unspecified", _via("http://0.0.0.0/"), RESERVED, 1),
    ("redirect-tab", _via("http://127.0.0.1\t/"), LOOPBACK, 1),
    ("redirect-after-three-hops", _via("http://127.0.0.1/", hops=3), LOOPBACK, 4),
    ("redirect-via-allowed-name", _via(_via("http://metadata.google.internal/",
                                            fixture="http://fixture.test:8000")), LINK_LOCAL, 2),
]
VECTORS = {name: (url, expected) for name, url, expected in DIRECT}
VECTORS.update({name: (url, expected) for name, url, expected, _ in REDIRECTS})
# With the guard lifted these reach the target: it is really listening there.
CONTROLS = ("http://127.0.0.1/", "http://10.0.0.1:8080/", "http://169.254.169.254/",
            "http://0.0.0.0:6379/", "http://[::1]/", "http://[fd00:ec2::254]/",
            "http://[2002:a00:1::]/", "http://[64:ff9b::a00:1]/", "http://[::ffff:127.0.0.1]/",
            "http://internal.test/", "http://2130706433:8080/", "http://localhost:6379/")


# --- the tests: run the vectors in a namespace, check what they did ------------------------


UNSHARE = ["unshare", "--net", "--mount", "--propagation", "private"]


def _why_no_namespace():
    """Why this machine cannot run the vectors in a namespace, or C{None}."""
    if os.geteuid() != 0:
        return "needs root: the vectors run in a network namespace (unshare --net)"
    if not (shutil.which("unshare") and shutil.which("ip")):
        return "needs unshare(1) and ip(8) for a network namespace"
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def report():
    why = _why_no_namespace()
    if why:
        pytest.skip(why)
    child = subprocess.run(
        [*UNSHARE, sys.executable, __file__], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)


@pytest.mark.parametrize("name", list(VECTORS))
def test_vector(report, name):
    url, expected = VECTORS[name]
    outcome = report["vectors"][name]
    assert outcome["outcome"].startswith(expected), (url, outcome)
    assert outcome["connections"] == 0, (url, outcome)


@pytest.mark.parametrize(("name", "requests"), [(name, n) for name, _, _, n in REDIRECTS])
def test_each_redirect_hop_was_checked_and_only_the_fixture_was_asked(report, name, requests):
    assert report["vectors"][name]["fixture"] == requests


def test_the_target_saw_no_connection_at_all(report):
    assert report["target_connections"] == 0


def test_the_suite_is_at_least_sixty_vectors():
    assert len(VECTORS) >= 60


@pytest.mark.parametrize("url", CONTROLS)
def test_with_the_guard_lifted_the_target_is_reached(report, url):
    outcome = report["controls"][url]
    assert (outcome["outcome"], outcome["connections"]) == ("HTTP 200", 1), outcome


@pytest.mark.parametrize(("name", "address"), [
    ("internal-name", "10.0.0.1"), ("metadata-name", "169.254.169.254"),
    ("name-private-and-loopback", "127.0.0.1"), ("redirect-name", "10.0.0.1"),
])
def test_page_errors_keep_the_address_for_the_log(report, name, address):
    """What an internal name resolves to is for the operator, not the caller."""
    outcome = report["vectors"][name]
    assert address not in outcome["outcome"]
    assert any(address in line for line in outcome["logged"]), outcome


# --- the child, in the namespace -----------------------------------------------------------


def _namespace(directory):
    """Bring up loopback with the blocked addresses, and this module's hosts file."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for address in ADDRESSES:
        subprocess.run(["ip", "addr", "add", address, "dev", "lo"], check=True)
    files = {"hosts": HOSTS, "resolv.conf": "nameserver 127.0.0.1\noptions attempts:1\n"}
    for name, text in files.items():
        (directory / name).write_text(text)
        subprocess.run(["mount", "--bind", str(directory / name), f"/etc/{name}"], check=True)


class _Answer(Resource):
    """Any path: a page.  /hops/N/CODE?to=URL: redirect N times to itself, then to URL."""

    isLeaf = True
    requests = 0

    def render_GET(self, request):
        self.requests += 1
        parts = request.path.decode().split("/")
        if parts[1] != "hops":
            return b"<p>here</p>"
        hops, code = int(parts[2]), int(parts[3])
        to = request.args[b"to"][0]
        if hops:
            to = f"/hops/{hops - 1}/{code}?to={quote(to.decode(), safe='')}".encode()
        page = redirectTo(to, request)
        request.setResponseCode(code)
        return page


class _Counting(Site):
    """A site that counts the connections it accepts."""

    def __init__(self):
        super().__init__(_Answer())
        self.connections = 0

    def buildProtocol(self, addr):
        self.connections += 1
        return super().buildProtocol(addr)


def _servers(reactor):
    """The target on every port of every local address; the fixture on 127.0.0.2:8000."""
    target, fixture = _Counting(), _Counting()
    for port in PORTS:
        reactor.listenTCP(port, target, interface="::")
        try:    # "::" takes IPv4 too, unless the system is set to v6-only
            reactor.listenTCP(port, target, interface="0.0.0.0")
        except CannotListenError:
            pass
    reactor.listenTCP(8000, fixture, interface="127.0.0.2")
    return target, fixture


async def _attempt(fetcher, text, target, fixture):
    """Normalise C{text} as the API does and fetch it; what happened."""
    before = target.connections, fixture.resource.requests
    with capturedLogs() as events:
        try:
            outcome = f"HTTP {(await fetcher.fetch(check_start_url(text))).status}"
        except InvalidURL as e:
            outcome = f"invalid: {e}"
        except BlockedAddress as e:
            outcome = str(e)
        except DNSLookupError as e:
            outcome = f"unresolved: {e}"
        except Exception as e:
            outcome = f"error: {e!r}"
    return {"outcome": outcome, "connections": target.connections - before[0],
            "fixture": fixture.resource.requests - before[1],
            "logged": [formatEvent(event) for event in events]}


async def _run(reactor):
    """Every vector with the guard as deployed, then the controls with it lifted."""
    target, fixture = _servers(reactor)
    guarded = from_env({"ALLOW_NETWORKS": "127.0.0.2/32", "FETCH_TIMEOUT": "5"})
    lifted = dataclasses.replace(guarded, allow_private_networks=True)
    fetchers = [Fetcher(make_client(reactor, c), reactor, c) for c in (guarded, lifted)]
    vectors = {name: await _attempt(fetchers[0], url, target, fixture)
               for name, (url, _) in VECTORS.items()}
    seen = target.connections
    controls = {url: await _attempt(fetchers[1], url, target, fixture) for url in CONTROLS}
    print(json.dumps({"vectors": vectors, "controls": controls, "target_connections": seen}))


def main():
    """The child: set the namespace up, run, print the report as JSON."""
    with tempfile.TemporaryDirectory() as directory:
        _namespace(Path(directory))
        react(lambda reactor: ensureDeferred(_run(reactor)))


if __name__ == "__main__":
    main()
