"""Unit tests for common.safety: which addresses are refused, checked at connect time."""

from ipaddress import ip_network

import pytest
from twisted.internet import error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.web.client import URI
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer
from zope.interface.verify import verifyObject

from common.config import ConfigError, from_env
from common.safety import BlockedAddress, CheckedEndpointFactory, UnusableHost, refusal


# --- refusal() ------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:192.168.0.1", "private"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("::ffff:169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fd00:ec2::254", "private"),
    ("fec0::1", "private"),             # site-local, which ipaddress calls global
    ("100.64.0.1", "private"),
    ("100.127.255.254", "private"),
    ("::ffff:100.64.0.1", "private"),
    ("192.0.0.8", "private"),
    ("198.18.0.1", "private"),
    ("198.19.255.1", "private"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "reserved"),
    ("0.1.2.3", "reserved"),
    ("::", "reserved"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("3fff::1", "reserved"),            # documentation (RFC 9637), which ipaddress calls global
])
def test_refused_addresses(address, kind):
    assert refusal(address) == kind


@pytest.mark.parametrize(("address", "kind"), [
    # IPv4-compatible (deprecated; ::a.b.c.d)
    ("::127.0.0.1", "loopback"),
    ("::10.0.0.1", "private"),
    ("::169.254.169.254", "link-local"),
    ("::8.8.8.8", "reserved"),
    # IPv4-translated (SIIT, ::ffff:0:a.b.c.d)
    ("::ffff:0:127.0.0.1", "loopback"),
    ("::ffff:0:192.168.0.1", "private"),
    # 6to4 (2002:AABB:CCDD::/48 for AA.BB.CC.DD)
    ("2002:7f00:1::", "loopback"),
    ("2002:7f00:1:1234::1", "loopback"),
    ("2002:a00:1::1", "private"),
    ("2002:c0a8:101::", "private"),
    ("2002:a9fe:a9fe::", "link-local"),
    ("2002:e000:1::", "multicast"),
    ("2002::", "reserved"),
    ("2002:808:808::1", "reserved"),    # 6to4 is deprecated: even a public host's is refused
    # NAT64, the well-known prefix (64:ff9b::a.b.c.d)
    ("64:ff9b::127.0.0.1", "loopback"),
    ("64:ff9b::7f00:1", "loopback"),
    ("64:ff9b::10.0.0.1", "private"),
    ("64:ff9b::169.254.169.254", "link-local"),
    ("64:ff9b::0.0.0.0", "reserved"),
    # NAT64, local use: the operator's translator may reach anything
    ("64:ff9b:1::8.8.8.8", "private"),
    ("64:ff9b:1:fffe::a00:1", "private"),
    # Teredo: 2001:0:server:flags:port:client, the client's bits inverted
    ("2001:0:808:808:0:0:80ff:fffe", "loopback"),       # client 127.0.0.1
    ("2001:0:808:808:0:0:f5ff:fffe", "private"),        # client 10.0.0.1
    ("2001:0:7f00:1:0:0:f7f7:f7f7", "loopback"),        # server 127.0.0.1
    ("2001:0:808:808:0:0:5601:5601", "link-local"),     # client 169.254.169.254
    ("2001:0:808:808:0:0:f7f7:f7f7", "private"),        # public both: still not global
    # a mapped address of an embedding one is judged by what it maps to
    ("::ffff:0.0.0.0", "reserved"),
])
def test_embedded_ipv4_addresses_are_judged(address, kind):
    assert refusal(address) == kind


@pytest.mark.parametrize("address", [
    "64:ff9b::8.8.8.8",         # NAT64 of a public address: how IPv6-only workers go out
    "64:ff9b::5db8:d822",
])
def test_nat64_of_public_addresses_is_allowed(address):
    assert refusal(address) is None


@pytest.mark.parametrize("address", [
    "192.0.2.1",      # documentation ranges are never public servers
    "198.51.100.7",
    "203.0.113.9",
    "2001:db8::1",
])
def test_documentation_ranges_are_refused(address):
    assert refusal(address) is not None


@pytest.mark.parametrize("address", [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "100.128.0.1", "100.63.255.255", "172.32.0.1",
    "192.169.0.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8",
])
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


@pytest.mark.parametrize("address", ["example.com", "", "300.1.1.1", "1.2.3"])
def test_refusal_wants_an_ip(address):
    with pytest.raises(ValueError):
        refusal(address)


ALLOWED = (ip_network("127.0.0.2/32"), ip_network("10.1.0.0/16"), ip_network("fd00:1::/32"))


@pytest.mark.parametrize("address", [
    "127.0.0.2", "10.1.2.3", "10.1.255.255", "fd00:1::5", "::ffff:127.0.0.2", "::ffff:10.1.0.1",
])
def test_allowed_networks_pass(address):
    assert refusal(address, ALLOWED) is None


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"),          # the neighbour of an allowed /32
    ("127.0.0.3", "loopback"),
    ("10.2.0.1", "private"),
    ("fd00:2::5", "private"),
    ("::1", "loopback"),
    ("2002:7f00:2::", "loopback"),      # a 6to4 address is not its IPv4 host
    ("64:ff9b::a01:203", "private"),    # nor is a NAT64 one
])
def test_only_the_allowed_networks_pass(address, kind):
    assert refusal(address, ALLOWED) == kind


# --- CheckedEndpointFactory ------------------------------------------------------------


class Resolution:
    def __init__(self, name):
        self.name = name

    def cancel(self):
        pass


@implementer(IHostnameResolver)
class FakeResolver:
    """Resolves names from a table, synchronously; remembers what was asked."""

    def __init__(self, table):
        self.table = table
        self.asked = []

    def resolveHostName(self, receiver, hostName, portNumber=0, addressTypes=None,
                        transportSemantics="TCP"):
        self.asked.append((hostName, portNumber))
        resolution = Resolution(hostName)
        receiver.resolutionBegan(resolution)
        for host in self.table.get(hostName, []):
            kind = IPv6Address if ":" in host else IPv4Address
            receiver.addressResolved(kind("TCP", host, portNumber))
        receiver.resolutionComplete()
        return resolution


def make(table, allow_private=False, timeout=7, allow_networks=()):
    reactor = MemoryReactorClock()
    reactor.nameResolver = FakeResolver(table)
    return reactor, CheckedEndpointFactory(reactor, allow_private, timeout, allow_networks)


class Client(Protocol):
    pass


def connect(endpoint_factory, url):
    endpoint = endpoint_factory.endpointForURI(URI.fromBytes(url))
    return endpoint.connect(Factory.forProtocol(Client))


def failure_of(d):
    failures = []
    d.addErrback(failures.append)
    assert failures, f"{d!r} did not fail"
    return failures[0]


def test_factory_provides_the_interfaces():
    _, factory = make({})
    assert verifyObject(IAgentEndpointFactory, factory)
    endpoint = factory.endpointForURI(URI.fromBytes(b"http://example.com/"))
    assert verifyObject(IStreamClientEndpoint, endpoint)


def test_host_resolving_to_loopback_only_is_blocked():
    reactor, factory = make({"sneaky.example": ["127.0.0.1"]})
    failure = failure_of(connect(factory, b"http://sneaky.example/"))
    assert failure.check(BlockedAddress)
    assert str(failure.value) == "blocked: loopback address"
    assert reactor.tcpClients == []


def test_blocked_address_is_a_connect_error():
    assert issubclass(BlockedAddress, error.ConnectError)


@pytest.mark.parametrize(("address", "kind"), [
    ("169.254.169.254", "link-local"),
    ("10.1.2.3", "private"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("2002:a9fe:a9fe::", "link-local"),
    ("64:ff9b::a00:5", "private"),
    ("2001:0:808:808::80ff:fffe", "loopback"),
    ("::7f00:1", "loopback"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "reserved"),
    ("192.0.2.1", "private"),
])
def test_the_message_names_the_kind_and_nothing_internal(address, kind):
    """A caller must not learn what an internal name resolves to."""
    reactor, factory = make({"vm": [address]})
    with capturedLogs() as events:
        failure = failure_of(connect(factory, b"http://vm:6379/"))
    assert failure.check(BlockedAddress)
    assert str(failure.value) == f"blocked: {kind} address"
    assert reactor.tcpClients == []
    [logged] = [formatEvent(e) for e in events if "refused" in formatEvent(e)]
    assert logged == f"refused to connect to vm port 6379: {address} ({kind})"


def test_the_first_refused_address_is_reported_and_all_are_logged():
    _, factory = make({"h.example": ["10.0.0.1", "127.0.0.1"]})
    with capturedLogs() as events:
        message = str(failure_of(connect(factory, b"http://h.example/")).value)
    assert message == "blocked: private address"
    assert "10.0.0.1 (private), 127.0.0.1 (loopback)" in formatEvent(events[-1])


def test_public_address_is_connected_with_the_timeout():
    reactor, factory = make({"example.com": ["93.184.216.34"]}, timeout=7)
    d = connect(factory, b"http://example.com/page")
    assert not d.called  # waiting for the TCP connection
    assert len(reactor.tcpClients) == 1
    host, port, _, timeout, _ = reactor.tcpClients[0]
    assert (host, port, timeout) == ("93.184.216.34", 80, 7)
    assert reactor.nameResolver.asked == [("example.com", 80)]


def test_refused_addresses_are_skipped_for_an_allowed_one():
    reactor, factory = make({"mixed.example": ["127.0.0.1", "10.0.0.2", "93.184.216.34"]})
    connect(factory, b"http://mixed.example:8080/")
    assert [(h, p) for h, p, *_ in reactor.tcpClients] == [("93.184.216.34", 8080)]


def test_public_ipv6_address_is_connected():
    reactor, factory = make({"v6.example": ["2606:4700:4700::1111"]})
    connect(factory, b"http://v6.example/")
    assert [(h, p) for h, p, *_ in reactor.tcpClients] == [("2606:4700:4700::1111", 80)]


def test_ip_literal_in_brackets_is_resolved_without_brackets():
    reactor, factory = make({"::1": ["::1"]})
    failure = failure_of(connect(factory, b"http://[::1]:8080/"))
    assert failure.check(BlockedAddress)
    assert reactor.nameResolver.asked == [("::1", 8080)]


def test_allow_private_lets_loopback_through():
    reactor, factory = make({"localhost": ["127.0.0.1"]}, allow_private=True)
    connect(factory, b"http://localhost:8000/")
    assert [(h, p) for h, p, *_ in reactor.tcpClients] == [("127.0.0.1", 8000)]


def test_allow_private_lets_metadata_through_too():
    reactor, factory = make({"meta": ["169.254.169.254"]}, allow_private=True)
    connect(factory, b"http://meta/")
    assert reactor.tcpClients[0][0] == "169.254.169.254"


def test_no_address_is_a_dns_lookup_error():
    reactor, factory = make({})
    failure = failure_of(connect(factory, b"http://nowhere.example/"))
    assert failure.check(error.DNSLookupError)
    assert not failure.check(BlockedAddress)
    assert reactor.tcpClients == []


def test_resolution_may_complete_later():
    @implementer(IHostnameResolver)
    class LaterResolver:
        def resolveHostName(self, receiver, hostName, portNumber=0, addressTypes=None,
                            transportSemantics="TCP"):
            self.finish = lambda host: (
                receiver.addressResolved(IPv4Address("TCP", host, portNumber)),
                receiver.resolutionComplete())
            receiver.resolutionBegan(Resolution(hostName))
            return Resolution(hostName)

    reactor = MemoryReactorClock()
    reactor.nameResolver = resolver = LaterResolver()
    d = connect(CheckedEndpointFactory(reactor, False, 5), b"http://slow.example/")
    assert reactor.tcpClients == []
    resolver.finish("127.0.0.1")
    assert failure_of(d).check(BlockedAddress)


def first_bytes(reactor):
    """Complete the recorded connection over a StringTransport; what was sent at once."""
    host, port, factory, _, _ = reactor.tcpClients[0]
    protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
    transport = StringTransport()
    protocol.makeConnection(transport)
    return transport.value()


def test_https_is_wrapped_in_tls_for_the_host_name():
    reactor, factory = make({"secure.example": ["93.184.216.34"]})
    d = connect(factory, b"https://secure.example/")
    host, port, _, _, _ = reactor.tcpClients[0]
    assert (host, port) == ("93.184.216.34", 443)
    # The handshake starts on connect; its ClientHello names the host (SNI),
    # so the certificate is checked against the name, not the address.
    sent = first_bytes(reactor)
    assert sent[:1] == b"\x16"  # a TLS handshake record
    assert b"secure.example" in sent
    assert isinstance(d.result, Client)


def test_https_to_a_blocked_address_never_starts_tls():
    reactor, factory = make({"secure.example": ["127.0.0.1"]})
    assert failure_of(connect(factory, b"https://secure.example/")).check(BlockedAddress)
    assert reactor.tcpClients == []


def test_plain_http_is_not_wrapped():
    reactor, factory = make({"example.com": ["93.184.216.34"]})
    d = connect(factory, b"http://example.com/")
    assert first_bytes(reactor) == b""
    assert isinstance(d.result, Client)


def test_each_connection_is_checked_again():
    """A redirect to another host is a new endpoint, resolved and checked anew."""
    reactor, factory = make({"public.example": ["93.184.216.34"], "inner.example": ["10.0.0.5"]})
    connect(factory, b"http://public.example/")
    failure = failure_of(connect(factory, b"http://inner.example/"))
    assert failure.check(BlockedAddress)
    assert len(reactor.tcpClients) == 1
    assert [name for name, _ in reactor.nameResolver.asked] == ["public.example", "inner.example"]


def test_pending_connection_can_be_cancelled():
    reactor, factory = make({"example.com": ["93.184.216.34"]})
    d = connect(factory, b"http://example.com/")
    d.cancel()
    assert failure_of(d).check(error.ConnectingCancelledError)
    assert reactor.connectors[0].stoppedConnecting


def test_deferred_type():
    _, factory = make({"example.com": ["93.184.216.34"]})
    assert isinstance(connect(factory, b"http://example.com/"), Deferred)


# --- IPv6 literals and host names TLS cannot carry ---------------------------------------


def test_an_ipv6_literal_is_connected_over_ipv6():
    reactor, factory = make({"2606:4700::1111": ["2606:4700::1111"]})
    connect(factory, b"http://[2606:4700::1111]:8080/")
    assert [(h, p) for h, p, *_ in reactor.tcpClients] == [("2606:4700::1111", 8080)]
    assert reactor.nameResolver.asked == [("2606:4700::1111", 8080)]


def test_https_to_an_ipv6_literal_is_wrapped_without_a_server_name():
    reactor, factory = make({"2606:4700::1111": ["2606:4700::1111"]})
    d = connect(factory, b"https://[2606:4700::1111]/")
    sent = first_bytes(reactor)
    assert sent[:1] == b"\x16"                   # a TLS handshake, and no SNI: an address
    assert b"2606" not in sent
    assert isinstance(d.result, Client)


@pytest.mark.parametrize("host", [b"a_b.example", b"xn--n3h.example", b"a!b.example",
                                  b"it's.example", b"a$b.example"])
def test_https_to_a_host_tls_cannot_name_fails_before_any_lookup(host):
    reactor, factory = make({host.decode(): ["93.184.216.34"]})
    failure = failure_of(connect(factory, b"https://" + host + b"/"))
    assert failure.check(UnusableHost)
    assert str(failure.value) == (
        f"cannot use https with the host {host.decode()!r}: TLS takes standard host names only")
    assert reactor.nameResolver.asked == []
    assert reactor.tcpClients == []


def test_an_unusable_host_is_a_refusal():
    """So the crawler records its page as failed at once, and robots.txt lets it be."""
    assert issubclass(UnusableHost, BlockedAddress)


def test_plain_http_to_such_a_host_is_looked_up_as_usual():
    reactor, factory = make({"a_b.example": ["93.184.216.34"]})
    connect(factory, b"http://a_b.example/")
    assert [(h, p) for h, p, *_ in reactor.tcpClients] == [("93.184.216.34", 80)]


# --- ALLOW_NETWORKS, from the environment to the guard -----------------------------------


def factory_from(environ, table):
    config = from_env(environ)
    reactor = MemoryReactorClock()
    reactor.nameResolver = FakeResolver(table)
    return reactor, CheckedEndpointFactory(
        reactor, config.allow_private_networks, 7, config.allow_networks)


TABLE = {"fixture.test": ["127.0.0.2"], "vm.test": ["127.0.0.1"], "db.test": ["10.1.0.9"],
         "v6.test": ["fd00:1::9"], "other.test": ["10.2.0.9"]}


def test_allow_networks_lifts_the_guard_for_those_networks_only():
    reactor, factory = factory_from({"ALLOW_NETWORKS": "127.0.0.2/32, 10.1.0.0/16 fd00:1::/32"},
                                    TABLE)
    for name in ("fixture.test", "db.test", "v6.test"):
        connect(factory, f"http://{name}/".encode())
    for name in ("vm.test", "other.test"):
        assert failure_of(connect(factory, f"http://{name}/".encode())).check(BlockedAddress)
    assert [h for h, *_ in reactor.tcpClients] == ["127.0.0.2", "10.1.0.9", "fd00:1::9"]


def test_by_default_no_network_is_allowed():
    reactor, factory = factory_from({}, TABLE)
    assert failure_of(connect(factory, b"http://fixture.test/")).check(BlockedAddress)
    assert reactor.tcpClients == []


@pytest.mark.parametrize("raw", ["10.0.0.1/8", "localhost", "10.0.0.0/33", "10.0.0.0/8;fd00::/8"])
def test_a_bad_network_stops_the_start_naming_the_variable(raw):
    with pytest.raises(ConfigError, match="ALLOW_NETWORKS"):
        from_env({"ALLOW_NETWORKS": raw})
