"""
Only authenticated workers are on the wire, on real processes: the API with
CURVE keys (tests/stack.py makes them), a worker with the right ones, and
strangers played here with pyzmq.  A stranger's PULL socket on the task
port once took half the tasks of a job; now it gets none, with or without a
key pair of its own, while the job completes exactly.  A stranger's notices
never reach the API.
"""

import re

import zmq
from zmq.utils.monitor import recv_monitor_message

from common import curve, messages
from tests.site import FixtureSite, page
from tests.wait import wait_for

PAGES = 20
HANDSHAKE_TIMEOUT = 20
FAILED = {zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
          zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL}
WATCHED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
           | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


def twenty_pages():
    links = "".join(f'<a href="/p{n}">{n}</a>' for n in range(1, PAGES))
    routes = {"/": page(f'<img src="/img/0.png">{links}')}
    routes.update({f"/p{n}": page(f'<img src="/img/{n}.png">') for n in range(1, PAGES)})
    return routes


class Stranger:
    """A pyzmq socket on the stack's wire, with no key pair or a made-up
    one (knowing the API's public key, which is no secret), and a monitor
    that tells how its handshakes end."""

    def __init__(self, context, kind, address, server_key=None):
        self.socket = context.socket(kind)
        self.socket.linger = 0
        if server_key is not None:
            self.socket.curve_publickey, self.socket.curve_secretkey = zmq.curve_keypair()
            self.socket.curve_serverkey = server_key
        self._monitor = self.socket.get_monitor_socket(WATCHED)
        self.events = set()
        self.received = []
        self.socket.connect(address)

    def refused(self):
        while self._monitor.poll(0):
            self.events.add(recv_monitor_message(self._monitor)["event"])
        return bool(self.events & FAILED)

    def take(self, timeout_ms):
        """Whatever arrived within C{timeout_ms}."""
        while self.socket.poll(timeout_ms):
            self.received.append(self.socket.recv())
            timeout_ms = 0


def strangers(context, kind, address, keys_dir):
    api_public = curve.load(keys_dir).api_public
    return [Stranger(context, kind, address), Stranger(context, kind, address, api_public)]


def wait_refused(people):
    wait_for(lambda: all(p.refused() for p in people), HANDSHAKE_TIMEOUT,
             "both strangers' handshakes to fail")


def test_strangers_on_the_task_port_get_nothing_while_a_job_completes(make_stack, tmp_path):
    stack = make_stack(workers=1)
    context = zmq.Context()
    try:
        rogues = strangers(context, zmq.PULL, f"tcp://127.0.0.1:{stack.tasks_port}", tmp_path / "keys")
        wait_refused(rogues)
        with FixtureSite(twenty_pages()) as site:
            job_id = stack.client.submit([site.url("/")])

            def done_while_strangers_listen():
                for rogue in rogues:
                    rogue.take(timeout_ms=20)
                return stack.client.job(job_id)["status"] == "completed"

            wait_for(done_while_strangers_listen, 120, f"job {job_id} to complete")
            for rogue in rogues:
                rogue.take(timeout_ms=0)
            pages = stack.client.pages(job_id)
            job = stack.client.job(job_id)
    finally:
        context.destroy(linger=0)

    assert [rogue.received for rogue in rogues] == [[], []]
    assert all(zmq.EVENT_HANDSHAKE_SUCCEEDED not in rogue.events for rogue in rogues)
    assert set(pages) == {site.url("/"), *(site.url(f"/p{n}") for n in range(1, PAGES))}
    assert {p["status"] for p in pages.values()} == {200}
    assert {p["worker"] for p in pages.values()} == {"worker1"}
    assert job["stats"]["pages_crawled"] == PAGES and job["stats"]["pages_failed"] == 0
    assert job["stats"]["images_found"] == PAGES
    assert re.search(r"refused \d+ ZeroMQ peer\(s\) whose key is not a worker's, the last from "
                     r"127\.0\.0\.1", stack.api.output())


def pages_finished(stack):
    """The API's count of notices heard (C{/metrics})."""
    status, _, body = stack.client.request("GET", "/metrics")
    assert status == 200, body
    return float(re.search(rb"^imagecrawler_pages_finished_total (\S+)$", body, re.M).group(1))


def test_strangers_notices_are_not_heard(make_stack, tmp_path):
    stack = make_stack(workers=0)
    keys = curve.load(tmp_path / "keys")
    notice = messages.encode_notice("0" * 32, 5)
    context = zmq.Context()
    try:
        rogues = strangers(context, zmq.PUSH, f"tcp://127.0.0.1:{stack.links_port}", tmp_path / "keys")
        for rogue in rogues:
            for _ in range(10):
                rogue.socket.send(notice, zmq.NOBLOCK)  # queued until a handshake succeeds
        wait_refused(rogues)
        # What a worker sends, with the workers' keys: heard, and only it.
        worker = context.socket(zmq.PUSH)
        worker.linger = 0
        worker.curve_serverkey = keys.api_public
        worker.curve_publickey, worker.curve_secretkey = keys.worker_public, keys.worker_secret
        worker.connect(f"tcp://127.0.0.1:{stack.links_port}")
        worker.send(notice)
        wait_for(lambda: pages_finished(stack) >= 1, HANDSHAKE_TIMEOUT, "the worker's notice")
        for rogue in rogues:
            rogue.refused()
    finally:
        context.destroy(linger=0)

    assert pages_finished(stack) == 1
    assert all(zmq.EVENT_HANDSHAKE_SUCCEEDED not in rogue.events for rogue in rogues)
