"""
Refuse to fetch from addresses a public crawler must never reach.

A URL submitted by anyone could name (or redirect to, or resolve to) the
cloud metadata service, the Redis next door or a router's admin page.  The
check is therefore made on the resolved address of every connection the
HTTP client opens, which covers every redirect hop and DNS tricks alike,
not on the URL's text.

A refused connection fails with L{BlockedAddress}, whose message names the
kind of range only ("blocked: private address"): page records are shown to
whoever submitted the job, and the address an internal name resolves to
would map the operator's network for them.  The detail goes to the log.
"""

import ipaddress
from functools import partial

from twisted.internet import error
from twisted.internet.address import IPv6Address
from twisted.internet.defer import Deferred, fail
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IResolutionReceiver, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

log = Logger()

# Ranges decided here rather than by the ipaddress module, which calls some
# of them global, and whose tables change between Python versions.
_RANGES = tuple((ipaddress.ip_network(net), kind) for net, kind in (
    ("0.0.0.0/8", "reserved"),        # "this network": 0.0.0.0 is the host itself
    ("100.64.0.0/10", "private"),     # carrier-grade NAT
    ("192.0.0.0/24", "private"),      # IETF protocol assignments
    ("198.18.0.0/15", "private"),     # benchmarking
    ("fec0::/10", "private"),         # site-local: deprecated, still routed here and there
    ("2002::/16", "reserved"),        # 6to4: deprecated (RFC 7526), its relays anyone's
    ("3fff::/20", "reserved"),        # documentation (RFC 9637)
    ("64:ff9b:1::/48", "private"),    # local-use NAT64 (RFC 8215): may translate to anything
))
# IPv6 forms whose last 32 bits are the IPv4 address a packet ends up at.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")   # SIIT (RFC 2765)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")                 # well-known prefix (RFC 6052)


class BlockedAddress(error.ConnectError):
    """
    A connection the crawler will not open.  The message is what the user
    sees, and says why without internal detail.
    """

    def __str__(self):
        return self.args[0]


class UnusableHost(BlockedAddress):
    """
    An https host that TLS cannot name: its server name indication and
    certificate checks take IDNA 2008 names only, which the host names
    that browsers also accept ("_", symbol labels) are not.
    """


def refusal(address, allowed=()):
    """
    Why C{address} (an IP string) may not be fetched: the kind of range it
    is in ("loopback", "private", ...), or C{None} if it may.

    An IPv6 address that embeds an IPv4 one (mapped, compatible, 6to4,
    NAT64, Teredo) reaches that IPv4 host through a translator or a tunnel,
    so the embedded address is judged too.  Addresses in the C{allowed}
    networks (C{ALLOW_NETWORKS}) pass whatever their kind; an IPv4-mapped
    address counts as its IPv4 address there, being the same host.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return None
    for target in _embedded(ip):
        kind = _kind(target)
        if kind:
            return kind
    if ip in _NAT64:
        return None     # a global prefix, translated to the public address just checked
    return _kind(ip)


def _embedded(ip):
    """The IPv4 addresses that a packet to C{ip} is delivered to, if any."""
    if ip.version == 4:
        return ()
    if ip.sixtofour:
        return (ip.sixtofour,)
    if ip.teredo:
        return ip.teredo        # (server, client): a Teredo host talks to both
    compatible = ip in _IPV4_COMPATIBLE and int(ip) > 1     # not :: or ::1
    if compatible or ip in _IPV4_TRANSLATED or ip in _NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def _kind(ip):
    """The kind of non-public range C{ip} is in, or C{None} for a public address."""
    for network, kind in _RANGES:
        if ip in network:
            return kind
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def _lifted(address):
    """The rule under C{ALLOW_PRIVATE_NETWORKS=1}: nothing is refused."""
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

    def __init__(self, reactor, host, port, refuse, timeout):
        self._reactor = reactor
        self._host = host
        self._port = port
        self._refuse = refuse
        self._timeout = timeout

    async def _pick(self):
        receiver = _Addresses()
        self._reactor.nameResolver.resolveHostName(receiver, self._host, self._port)
        addresses = await receiver.done
        if not addresses:
            raise error.DNSLookupError(f"no address for {self._host}")
        refused = []
        for address in addresses:
            kind = self._refuse(address.host)
            if kind is None:
                return address
            refused.append((address.host, kind))
        log.info("refused to connect to {host} port {port}: {refused}",
                 host=self._host, port=self._port,
                 refused=", ".join(f"{ip} ({kind})" for ip, kind in refused))
        raise BlockedAddress(string=f"blocked: {refused[0][1]} address")

    async def _connect(self, factory):
        address = await self._pick()
        kind = TCP6ClientEndpoint if isinstance(address, IPv6Address) else TCP4ClientEndpoint
        return await kind(self._reactor, address.host, address.port, self._timeout).connect(factory)

    def connect(self, protocolFactory):
        return Deferred.fromCoroutine(self._connect(protocolFactory))


@implementer(IStreamClientEndpoint)
class _Refused:
    """An endpoint that fails every connection with C{reason}, before any lookup."""

    def __init__(self, reason):
        self._reason = reason

    def connect(self, protocolFactory):
        return fail(self._reason)


@implementer(IAgentEndpointFactory)
class CheckedEndpointFactory:
    """
    An L{Agent} endpoint factory that applies L{refusal} to every
    connection, unless C{allow_private}; C{allow_networks} (ip_network
    objects) are let through either way.
    """

    def __init__(self, reactor, allow_private, connect_timeout, allow_networks=()):
        self._reactor = reactor
        self._refuse = _lifted if allow_private else partial(
            refusal, allowed=tuple(allow_networks))
        self._timeout = connect_timeout
        self._tls = BrowserLikePolicyForHTTPS()

    def endpointForURI(self, uri):
        host = uri.host.decode("ascii")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        endpoint = _CheckedEndpoint(self._reactor, host, uri.port, self._refuse, self._timeout)
        if uri.scheme != b"https":
            return endpoint
        try:
            creator = self._tls.creatorForNetloc(host.encode("ascii"), uri.port)
        except ValueError:      # idna's errors are UnicodeErrors
            return _Refused(UnusableHost(string=f"cannot use https with the host {host!r}: "
                                                "TLS takes standard host names only"))
        return wrapClientTLS(creator, endpoint)


def guarded_agent(reactor, config, pool, connect_timeout):
    """
    An L{Agent} on C{pool} whose every connection goes through
    L{CheckedEndpointFactory} with the allowances of C{config}
    (C{ALLOW_PRIVATE_NETWORKS}, C{ALLOW_NETWORKS}): the crawler's and the
    webhooks' one way out.
    """
    endpoints = CheckedEndpointFactory(
        reactor, config.allow_private_networks, connect_timeout, config.allow_networks)
    return Agent.usingEndpointFactory(reactor, endpoints, pool=pool)
