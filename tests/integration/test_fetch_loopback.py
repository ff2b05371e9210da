"""
make_client on real sockets: what treq's in-memory client cannot show.

StubTreq has no connection pool and no name resolution, so the address
guard and the kept-alive connections of L{make_client} are run here against
a twisted.web Site on 127.0.0.1, each test on its own reactor (started and
stopped within the test) with the system resolver.
"""

import dataclasses

import pytest
from twisted.internet.defer import ensureDeferred
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.task import deferLater
from twisted.protocols.policies import WrappingFactory
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from common.config import from_env
from worker.fetch import Fetcher, make_client
from common.safety import BlockedAddress


class Recorder(Resource):
    """Answer every path with a page and a cookie; note who asked and with what."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.seen = []          # (client port, Cookie header)

    def render_GET(self, request):
        self.seen.append((request.getClientAddress().port, request.getHeader("cookie")))
        request.setHeader("Content-Type", "text/html")
        request.setHeader("Set-Cookie", "sid=abc")
        return b"<p>hello</p>"


def run(test, timeout=10):
    """Run C{test(reactor)} (a coroutine function) on a fresh reactor; return its result."""
    reactor = SelectReactor()
    outcome = []

    def start():
        d = ensureDeferred(test(reactor))
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    deadline = reactor.callLater(timeout, reactor.stop)
    reactor.run(installSignalHandlers=False)
    if deadline.active():
        deadline.cancel()
    assert outcome, f"the test did not finish in {timeout} s"
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


def served(test, allow_private):
    """Run C{test(fetcher, client, base, connections)} with a Site on 127.0.0.1."""
    recorder = Recorder()
    connections = WrappingFactory(Site(recorder))

    async def body(reactor):
        port = reactor.listenTCP(0, connections, interface="127.0.0.1")
        config = dataclasses.replace(
            from_env({}), allow_private_networks=allow_private, fetch_timeout=5)
        client = make_client(reactor, config)
        try:
            await test(reactor, Fetcher(client, reactor, config), client,
                       port.getHost().port, connections)
        finally:
            await client.close()
            await port.stopListening()

    run(body)
    return recorder.seen


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_guard_refuses_loopback_by_default(host):
    async def test(reactor, fetcher, client, port, connections):
        with pytest.raises(BlockedAddress, match="loopback"):
            await fetcher.fetch(f"http://{host}:{port}/")

    assert served(test, allow_private=False) == []


def test_private_networks_may_be_allowed():
    async def test(reactor, fetcher, client, port, connections):
        page = await fetcher.fetch(f"http://127.0.0.1:{port}/")
        assert (page.status, page.body) == (200, b"<p>hello</p>")

    assert len(served(test, allow_private=True)) == 1


def test_connections_are_kept_no_cookie_is_and_close_hangs_up():
    async def test(reactor, fetcher, client, port, connections):
        for _ in range(3):
            await fetcher.fetch(f"http://127.0.0.1:{port}/")
        assert len(connections.protocols) == 1
        await client.close()
        for _ in range(100):
            if not connections.protocols:
                return
            await deferLater(reactor, 0.01)
        raise AssertionError("close() left the connection open")

    seen = served(test, allow_private=True)
    assert len({client_port for client_port, _ in seen}) == 1, seen
    assert [cookie for _, cookie in seen] == [None, None, None]
