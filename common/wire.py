"""
ZeroMQ sockets for both sides, with the options the design relies on.

High-water marks keep the wire bounded: the API never pushes more than the
workers' declared capacity anyway (see C{lua/lease.lua}), so a full socket
means something is wrong, and the task simply stays leased in Redis until
the reaper requeues it.  ZMTP heartbeats make a peer that stopped answering
(SIGSTOP, a frozen VM, a cut cable) drop out of PUSH's round-robin within
seconds instead of swallowing every Nth task into a TCP buffer.
"""

import zmq
from txzmq import ZmqEndpoint, ZmqFactory, ZmqPullConnection, ZmqPushConnection

HEARTBEAT_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000


def factory(reactor):
    """One ZeroMQ context per process, driven by C{reactor}."""
    zmq_factory = ZmqFactory()
    zmq_factory.reactor = reactor
    return zmq_factory


def _configure(connection, how, address, hwm):
    socket = connection.socket
    socket.setsockopt(zmq.SNDHWM, hwm)
    socket.setsockopt(zmq.RCVHWM, hwm)
    socket.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
    socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    socket.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
    connection.addEndpoints([ZmqEndpoint(how, address)])
    return connection


def push(zmq_factory, how, address, hwm):
    """A PUSH socket; C{how} is C{"bind"} or C{"connect"}."""
    return _configure(ZmqPushConnection(zmq_factory), how, address, hwm)


def pull(zmq_factory, how, address, hwm, on_message):
    """A PULL socket calling C{on_message(bytes)} for each single-part message."""
    connection = ZmqPullConnection(zmq_factory)
    connection.onPull = lambda parts: on_message(parts[0])
    return _configure(connection, how, address, hwm)


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
