"""
Refuse to fetch from addresses a public crawler must never reach.

A URL submitted by anyone could name (or redirect to, or resolve to) the
cloud metadata service, the Redis next door or a router's admin page.  The
check is therefore made on the resolved address of every connection the
HTTP client opens, which covers every redirect hop and DNS tricks alike,
not on the URL's text.
"""

import ipaddress

from twisted.internet import error
from twisted.internet.address import IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IResolutionReceiver, IStreamClientEndpoint
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

# Addresses that the ipaddress module does not already call private.
_EXTRA_BLOCKED = tuple(ipaddress.ip_network(n) for n in (
    "100.64.0.0/10",      # carrier-grade NAT
    "192.0.0.0/24",       # IETF protocol assignments
    "198.18.0.0/15",      # benchmarking
    "fd00:ec2::254/128",  # AWS metadata over IPv6
))


class BlockedAddress(error.ConnectError):
    """The host resolved only to addresses the crawler may not connect to."""


def refusal(address):
    """
    Why C{address} (an IP string) may not be fetched, or C{None} if it may.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private or any(ip in net for net in _EXTRA_BLOCKED):
        return "private network"
    if not ip.is_global:
        return "not a public address"
    return None


@implementer(IResolutionReceiver)
class _Addresses:
    def __init__(self):
        self.found = []
        self.done = Deferred()

    def resolutionBegan(self, resolution):
        pass

    def addressResolved(self, address):
        self.found.append(address)

    def resolutionComplete(self):
        self.done.callback(self.found)


@implementer(IStreamClientEndpoint)
class _CheckedEndpoint:
    """Resolve, drop refused addresses, connect to the first one left."""

    def __init__(self, reactor, host, port, allow_private, timeout):
        self._reactor = reactor
        self._host = host
        self._port = port
        self._allow_private = allow_private
        self._timeout = timeout

    async def _pick(self):
        receiver = _Addresses()
        self._reactor.nameResolver.resolveHostName(receiver, self._host, self._port)
        addresses = await receiver.done
        if not addresses:
            raise error.DNSLookupError(f"no address for {self._host}")
        allowed, refused = [], []
        for address in addresses:
            why = None if self._allow_private else refusal(address.host)
            (refused if why else allowed).append((address, why))
        if not allowed:
            address, why = refused[0]
            raise BlockedAddress(string=f"refused {self._host} at {address.host}: {why}")
        return allowed[0][0]

    async def _connect(self, factory):
        address = await self._pick()
        kind = TCP6ClientEndpoint if isinstance(address, IPv6Address) else TCP4ClientEndpoint
        return await kind(self._reactor, address.host, address.port, self._timeout).connect(factory)

    def connect(self, protocolFactory):
        return Deferred.fromCoroutine(self._connect(protocolFactory))


@implementer(IAgentEndpointFactory)
class CheckedEndpointFactory:
    """An L{Agent} endpoint factory that applies L{refusal} to every connection."""

    def __init__(self, reactor, allow_private, connect_timeout):
        self._reactor = reactor
        self._allow_private = allow_private
        self._timeout = connect_timeout
        self._tls = BrowserLikePolicyForHTTPS()

    def endpointForURI(self, uri):
        host = uri.host.decode("ascii")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        endpoint = _CheckedEndpoint(
            self._reactor, host, uri.port, self._allow_private, self._timeout)
        if uri.scheme == b"https":
            endpoint = wrapClientTLS(self._tls.creatorForNetloc(uri.host, uri.port), endpoint)
        return endpoint
