"""
Unit tests for common.wire's sockets and common.curve's keys: which
options each side gets, the ZAP handler's answers, and real CURVE
handshakes on loopback, in which only the workers' key gets a pipe.

The sockets are real ZeroMQ sockets; their reactor is a
L{MemoryReactorClock}, and the tests call C{doRead} themselves.
"""

import stat

import pytest
import txzmq.connection
import zmq
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

from common import curve, wire
from tests.wait import wait_for

HANDSHAKE = 10


@pytest.fixture
def keys_dir(tmp_path):
    curve.make_keys(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.fixture
def keys(keys_dir):
    return curve.load(keys_dir)


@pytest.fixture
def zmq_factory(monkeypatch):
    """A ZeroMQ context on a memory reactor; txzmq schedules its reads after
    a send on the global reactor, which must not be touched from here."""
    reactor = MemoryReactorClock()
    monkeypatch.setattr(txzmq.connection, "reactor", reactor)
    made = wire.factory(reactor)
    yield made
    made.shutdown()


@pytest.fixture
def peers():
    """A context of its own for the peers a test plays, plain pyzmq."""
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def authorizers(zmq_factory):
    return [c for c in zmq_factory.connections if isinstance(c, wire.Authorizer)]


def pump(zmq_factory):
    for connection in list(zmq_factory.connections):
        connection.doRead()


# --- keys ---------------------------------------------------------------------------


def test_make_keys_makes_both_pairs_with_private_secrets(tmp_path):
    assert curve.make_keys(tmp_path / "keys") == ["api", "worker"]
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    for name in ("api.key_secret", "worker.key_secret"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "api.key", "api.key_secret", "worker.key", "worker.key_secret"]
    keys = curve.load(tmp_path / "keys")
    assert zmq.curve_public(keys.api_secret) == keys.api_public


def test_make_keys_keeps_the_pairs_there(keys_dir):
    before = {p.name: p.read_bytes() for p in keys_dir.iterdir()}
    assert curve.make_keys(keys_dir) == []
    assert {p.name: p.read_bytes() for p in keys_dir.iterdir()} == before


def test_make_keys_remakes_only_a_half_pair(keys_dir):
    api = (keys_dir / "api.key_secret").read_bytes()
    (keys_dir / "worker.key").unlink()
    assert curve.make_keys(keys_dir) == ["worker"]
    assert (keys_dir / "api.key_secret").read_bytes() == api
    curve.load(keys_dir)


def test_the_keys_tool_says_what_it_did(tmp_path, capsys):
    curve.main([str(tmp_path / "k")])
    curve.main([str(tmp_path / "k")])
    assert capsys.readouterr().out.splitlines() == [
        f"made the api and worker keys in {tmp_path / 'k'}", f"keys already in {tmp_path / 'k'}"]


def test_each_side_gets_its_keys(keys):
    server, client = curve.server_keys(keys), curve.client_keys(keys)
    assert (server.secret, server.clients) == (keys.api_secret, {keys.worker_public})
    assert (client.public, client.secret, client.server) == (
        keys.worker_public, keys.worker_secret, keys.api_public)
    assert curve.server_keys(None) is None and curve.client_keys(None) is None
    assert keys.api_secret.decode() not in repr(server) + repr(keys)


@pytest.mark.parametrize(("address", "outside"), [
    ("tcp://*:8050", True), ("tcp://0.0.0.0:8050", True), ("tcp://[::]:8050", True),
    ("tcp://10.0.0.5:8050", True), ("tcp://203.0.113.9:8050", True), ("tcp://eth0:8050", True),
    ("tcp://api:8050", True), ("tcp://[2001:db8::1]:8050", True),
    ("tcp://127.0.0.1:8050", False), ("tcp://127.9.9.9:8050", False), ("tcp://[::1]:8050", False),
    ("tcp://localhost:8050", False), ("tcp://127.0.0.1:*", False),
    ("ipc:///tmp/tasks", False), ("inproc://tasks", False),
])
def test_which_binds_other_machines_reach(address, outside):
    assert curve.reachable_from_outside(address) is outside


# --- socket options ---------------------------------------------------------------------


def test_without_keys_sockets_are_plaintext(zmq_factory):
    push = wire.push(zmq_factory, "bind", "tcp://127.0.0.1:*", 10, None)
    pull = wire.pull(zmq_factory, "connect", "tcp://127.0.0.1:1", 10, print, None)
    for connection in (push, pull):
        assert connection.socket.getsockopt(zmq.MECHANISM) == zmq.NULL
    assert authorizers(zmq_factory) == []


def test_server_sockets_are_curve_servers_behind_one_authorizer(zmq_factory, keys):
    server = curve.server_keys(keys)
    push = wire.push(zmq_factory, "bind", "tcp://127.0.0.1:*", 10, server)
    pull = wire.pull(zmq_factory, "bind", "tcp://127.0.0.1:*", 10, print, server)
    for connection in (push, pull):
        socket = connection.socket
        assert socket.getsockopt(zmq.MECHANISM) == zmq.CURVE
        assert socket.curve_server == 1
        assert socket.zap_domain == wire.ZAP_DOMAIN
        assert socket.getsockopt(zmq.ZAP_ENFORCE_DOMAIN) == 1
    [authorizer] = authorizers(zmq_factory)
    assert authorizer.clients == {keys.worker_public}


def test_client_sockets_are_curve_clients(zmq_factory, keys):
    pull = wire.pull(zmq_factory, "connect", "tcp://127.0.0.1:1", 10, print, curve.client_keys(keys))
    assert pull.socket.getsockopt(zmq.MECHANISM) == zmq.CURVE
    assert pull.socket.curve_server == 0
    assert authorizers(zmq_factory) == []


# --- the ZAP handler's answers -----------------------------------------------------------


def zap_request(mechanism, *credentials, request_id=b"7"):
    """A ZAP request as libzmq sends it, behind a ROUTER's routing frame."""
    return [b"\x00peer", b"", b"1.0", request_id, wire.ZAP_DOMAIN, b"192.0.2.1", b"",
            mechanism, *credentials]


@pytest.fixture
def authorizer(zmq_factory, keys, monkeypatch):
    wire.push(zmq_factory, "bind", "tcp://127.0.0.1:*", 10, curve.server_keys(keys))
    [found] = authorizers(zmq_factory)
    found.replies = []
    monkeypatch.setattr(found, "send", found.replies.append)
    return found


def test_the_workers_key_is_let_in(authorizer, keys):
    authorizer.messageReceived(zap_request(b"CURVE", z85.decode(keys.worker_public)))
    assert authorizer.replies == [
        [b"\x00peer", b"", b"1.0", b"7", b"200", b"OK", keys.worker_public, b""]]


@pytest.mark.parametrize("request_", [
    zap_request(b"CURVE", z85.decode(zmq.curve_keypair()[0])),
    zap_request(b"NULL"),
], ids=["a stranger's key", "no key"])
def test_any_other_peer_is_refused(authorizer, keys, request_):
    authorizer.messageReceived(request_)
    assert authorizer.replies == [
        [b"\x00peer", b"", b"1.0", b"7", b"400", b"client key not authorized", b"", b""]]


def test_the_servers_own_key_is_no_pass(authorizer, keys):
    authorizer.messageReceived(zap_request(b"CURVE", z85.decode(keys.api_public)))
    assert authorizer.replies[0][4] == b"400"


def test_refusals_are_logged_at_most_every_ten_seconds(authorizer, zmq_factory):
    stranger = z85.decode(zmq.curve_keypair()[0])
    with capturedLogs() as events:
        for moment in (0, 1, 5, 10, 10.5):
            zmq_factory.reactor.advance(moment - zmq_factory.reactor.seconds())
            authorizer.messageReceived(zap_request(b"CURVE", stranger))
    assert [(e["n"], e["address"]) for e in events] == [(1, "192.0.2.1"), (3, "192.0.2.1")]
    assert all(e["log_level"].name == "warn" for e in events)


# --- real handshakes on loopback -------------------------------------------------------------


def endpoint(connection):
    return connection.socket.getsockopt(zmq.LAST_ENDPOINT).decode()


class Peer:
    """A plain pyzmq socket, as a worker or a stranger would have one, with
    a monitor to see how its handshakes end."""

    WATCHED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
               | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)

    def __init__(self, context, kind, address, public=None, secret=None, server=None):
        self.socket = context.socket(kind)
        self.socket.linger = 0
        if server is not None:
            self.socket.curve_serverkey = server
            self.socket.curve_publickey = public
            self.socket.curve_secretkey = secret
        self._monitor = self.socket.get_monitor_socket(self.WATCHED)
        self._seen = set()
        self.socket.connect(address)

    def events(self):
        while self._monitor.poll(0):
            self._seen.add(recv_monitor_message(self._monitor)["event"])
        return self._seen


def the_cast(peers, keys, address, kind):
    """The worker, a stranger with a key pair of its own who knows the API's
    public key, and a stranger with no keys at all."""
    stranger_public, stranger_secret = zmq.curve_keypair()
    return (Peer(peers, kind, address, keys.worker_public, keys.worker_secret, keys.api_public),
            Peer(peers, kind, address, stranger_public, stranger_secret, keys.api_public),
            Peer(peers, kind, address))


def refused(stranger, plain):
    return (zmq.EVENT_HANDSHAKE_FAILED_AUTH in stranger.events()
            and plain.events() & {zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                  zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL})


def test_only_the_workers_key_takes_tasks(zmq_factory, keys, peers):
    tasks = wire.push(zmq_factory, "bind", "tcp://127.0.0.1:*", 100, curve.server_keys(keys))
    worker, stranger, plain = the_cast(peers, keys, endpoint(tasks), zmq.PULL)

    def settled():
        pump(zmq_factory)
        return zmq.EVENT_HANDSHAKE_SUCCEEDED in worker.events() and refused(stranger, plain)

    wait_for(settled, HANDSHAKE, "the worker in and both strangers refused", interval=0.01)
    sent = [f"task {n}".encode() for n in range(20)]
    for message in sent:
        assert wire.send(tasks, message)
    assert [worker.socket.recv() for _ in sent] == sent
    assert not stranger.socket.poll(0) and not plain.socket.poll(0)


def test_only_the_workers_key_is_heard(zmq_factory, keys, peers):
    heard = []
    notices = wire.pull(zmq_factory, "bind", "tcp://127.0.0.1:*", 100, heard.append,
                        curve.server_keys(keys))
    worker, stranger, plain = the_cast(peers, keys, endpoint(notices), zmq.PUSH)
    # A connecting socket queues what it sends until its handshake is done.
    for sender, message in ((stranger, b"stranger"), (plain, b"plain"), (worker, b"worker")):
        sender.socket.send(message, zmq.NOBLOCK)

    def settled():
        pump(zmq_factory)
        return heard and refused(stranger, plain)

    wait_for(settled, HANDSHAKE, "the worker's notice and both strangers refused", interval=0.01)
    pump(zmq_factory)
    assert heard == [b"worker"]
