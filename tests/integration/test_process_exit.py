"""
A daemon that cannot bind its port exits non-zero, saying which address,
instead of staying up half alive (HTTP without dispatch, or the reverse).
"""

import socket
import sys

import pytest

from tests.stack import Process, Stack
from tests.wait import wait_for

EXIT_TIMEOUT = 30


@pytest.fixture
def taken_port():
    """A port someone else is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def run_api(tmp_path, redis_server, **settings):
    env = Stack(tmp_path, redis_server, **settings).env
    api = Process("api", [sys.executable, "-m", "api"], env, tmp_path).start()
    try:
        wait_for(lambda: not api.alive, EXIT_TIMEOUT, "the API to exit")
    except AssertionError:
        api.kill()
        raise AssertionError(f"the API stayed up:\n{api.output()[-3000:]}") from None
    return api.proc.returncode, api.output()


def test_api_exits_1_when_its_http_port_is_taken(tmp_path, redis_server, taken_port):
    status, output = run_api(tmp_path, redis_server, API_PORT=taken_port)
    assert status == 1, output
    assert f"127.0.0.1:{taken_port}" in output and "Address already in use" in output, output
    assert "Traceback" in output, output


def test_api_exits_1_when_its_zeromq_tasks_port_is_taken(tmp_path, redis_server, taken_port):
    status, output = run_api(tmp_path, redis_server,
                             ZMQ_TASKS_BIND=f"tcp://127.0.0.1:{taken_port}")
    assert status == 1, output
    assert f"127.0.0.1:{taken_port}" in output and "Address already in use" in output, output
