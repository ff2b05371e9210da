"""
ZeroMQ sockets for both sides, with the options the design relies on.

High-water marks keep the wire bounded: the API never pushes more than the
workers' declared capacity anyway (see C{lua/lease.lua}), so a full socket
means something is wrong, and the task simply stays leased in Redis until
the reaper requeues it.  ZMTP heartbeats make a peer that stopped answering
(SIGSTOP, a frozen VM, a cut cable) drop out of PUSH's round-robin within
seconds instead of swallowing every Nth task into a TCP buffer.

With keys (L{common.curve}) the API's sockets are CURVE servers and the
workers' CURVE clients.  A peer that fails the handshake, or whose client
key the API's ZAP handler does not know, never gets a pipe: PUSH's
round-robin never picks it and nothing it sends is read.  Without keys the
wire is plaintext, which L{common.config} allows on loopback only.
"""

import zmq
from twisted.logger import Logger
from txzmq import ZmqConnection, ZmqEndpoint, ZmqFactory, ZmqPullConnection, ZmqPushConnection
from zmq.utils import z85

from common import curve

log = Logger()

HEARTBEAT_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000
# Where libzmq asks a context's ZAP handler about each peer (RFC 27).
ZAP_ADDRESS = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"imagecrawler"
REFUSALS_LOG_SECONDS = 10


def factory(reactor):
    """One ZeroMQ context per process, driven by C{reactor}."""
    zmq_factory = ZmqFactory()
    zmq_factory.reactor = reactor
    return zmq_factory


def _configure(connection, how, address, hwm, keys):
    socket = connection.socket
    socket.setsockopt(zmq.SNDHWM, hwm)
    socket.setsockopt(zmq.RCVHWM, hwm)
    socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    socket.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
    _secure(connection, keys)
    connection.addEndpoints([ZmqEndpoint(how, address)])
    return connection


def _secure(connection, keys):
    """
    CURVE options, before the socket binds or connects (they apply to the
    connections made after).  A server socket enforces its ZAP domain: were
    the handler ever missing, libzmq would refuse every peer rather than
    let all of them in.
    """
    socket = connection.socket
    if isinstance(keys, curve.Server):
        _authorizer(connection.factory).clients.update(keys.clients)
        socket.curve_server = True
        socket.curve_secretkey = keys.secret
        socket.zap_domain = ZAP_DOMAIN
        socket.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
    elif isinstance(keys, curve.Client):
        socket.curve_serverkey = keys.server
        socket.curve_publickey = keys.public
        socket.curve_secretkey = keys.secret


def push(zmq_factory, how, address, hwm, keys):
    """
    A PUSH socket; C{how} is C{"bind"} or C{"connect"}, C{keys} a
    L{curve.Server}, a L{curve.Client} or None (plaintext).
    """
    return _configure(ZmqPushConnection(zmq_factory), how, address, hwm, keys)


def pull(zmq_factory, how, address, hwm, on_message, keys):
    """
    A PULL socket calling C{on_message(bytes)} for each single-part message;
    C{how} and C{keys} as for L{push}.
    """
    connection = ZmqPullConnection(zmq_factory)
    connection.onPull = lambda parts: on_message(parts[0])
    return _configure(connection, how, address, hwm, keys)


def can_send(connection):
    """True when a send would not block: a peer is connected and has room."""
    return bool(connection.socket.getsockopt(zmq.EVENTS) & zmq.POLLOUT)


def send(connection, message):
    """Send without blocking; False when the socket had no room."""
    try:
        connection.push(message)
    except zmq.Again:
        return False
    return True


def _authorizer(zmq_factory):
    """The context's ZAP handler, bound before its first CURVE server socket."""
    for connection in zmq_factory.connections:
        if isinstance(connection, Authorizer):
            return connection
    return Authorizer(zmq_factory)


class Authorizer(ZmqConnection):
    """
    A context's ZAP handler (RFC 27), on the reactor like every socket here.
    libzmq asks it about each peer that completed a CURVE handshake with
    one of the context's server sockets; a peer gets in only with one of
    C{clients}, the z85 public keys of the workers.  The handshake alone
    proves only that the peer knows the API's public key, which is not
    meant to be a secret.
    """

    socketType = zmq.ROUTER

    def __init__(self, zmq_factory):
        self.clients = set()
        self._refused = 0
        self._quiet_until = float("-inf")
        super().__init__(zmq_factory, ZmqEndpoint("bind", ZAP_ADDRESS))

    def messageReceived(self, message):
        split = message.index(b"")
        envelope, request = message[:split], message[split + 1:]
        version, request_id, _domain, address, _identity, mechanism, *credentials = request
        key = z85.encode(credentials[0]) if mechanism == b"CURVE" else None
        if key in self.clients:
            answer = [b"200", b"OK", key]
        else:
            answer = [b"400", b"client key not authorized", b""]
            self._note_refusal(address.decode())
        self.send([*envelope, b"", version, request_id, *answer, b""])

    def _note_refusal(self, address):
        """Log refused peers at most once per REFUSALS_LOG_SECONDS: a peer
        with a wrong key tries again every 100 ms."""
        self._refused += 1
        now = self.factory.reactor.seconds()
        if now < self._quiet_until:
            return
        log.warn("refused {n} ZeroMQ peer(s) whose key is not a worker's, the last from {address}",
                 n=self._refused, address=address)
        self._refused, self._quiet_until = 0, now + REFUSALS_LOG_SECONDS
