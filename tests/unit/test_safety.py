"""Unit tests for worker.safety: which addresses are refused, checked at connect time."""

import pytest
from twisted.internet import error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.client import URI
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer
from zope.interface.verify import verifyObject

from worker.safety import BlockedAddress, CheckedEndpointFactory, refusal


# --- refusal() ------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.1", "private network"),
    ("172.16.5.4", "private network"),
    ("172.31.255.255", "private network"),
    ("192.168.1.1", "private network"),
    ("fc00::1", "private network"),
    ("fd12:3456::1", "private network"),
    ("::ffff:10.1.2.3", "private network"),
    ("::ffff:192.168.0.1", "private network"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("169.254.0.1", "link-local (cloud metadata)"),
    ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
    ("fe80::1", "link-local (cloud metadata)"),
    ("fe80::1%eth0", "link-local (cloud metadata)"),
    ("fd00:ec2::254", "private network"),
    ("100.64.0.1", "private network"),
    ("100.127.255.254", "private network"),
    ("::ffff:100.64.0.1", "private network"),
    ("192.0.0.8", "private network"),
    ("198.18.0.1", "private network"),
    ("198.19.255.1", "private network"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "reserved"),
    ("::", "reserved"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
])
def test_refused_addresses(address, reason):
    assert refusal(address) == reason


@pytest.mark.parametrize("address", [
    "192.0.2.1",      # documentation ranges are never public servers
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


def make(table, allow_private=False, timeout=7):
    reactor = MemoryReactorClock()
    reactor.nameResolver = FakeResolver(table)
    return reactor, CheckedEndpointFactory(reactor, allow_private, timeout)


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
    message = str(failure.value)
    assert "loopback" in message
    assert "sneaky.example" in message and "127.0.0.1" in message
    assert reactor.tcpClients == []


def test_blocked_address_is_a_connect_error():
    assert issubclass(BlockedAddress, error.ConnectError)


@pytest.mark.parametrize(("address", "reason"), [
    ("169.254.169.254", "link-local"),
    ("10.1.2.3", "private network"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
])
def test_blocked_reason_is_named(address, reason):
    reactor, factory = make({"h.example": [address]})
    failure = failure_of(connect(factory, b"http://h.example/"))
    assert failure.check(BlockedAddress)
    assert reason in str(failure.value)
    assert reactor.tcpClients == []


def test_the_first_refused_address_is_reported():
    _, factory = make({"h.example": ["10.0.0.1", "127.0.0.1"]})
    message = str(failure_of(connect(factory, b"http://h.example/")).value)
    assert "10.0.0.1" in message and "private network" in message


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
