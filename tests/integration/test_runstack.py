"""
C{make run}'s supervisor on real processes: a killed worker is restarted
and says so, Ctrl-C stops everything and never restarts anything, and a bad
setting stops the stack instead of restarting it forever.
"""

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.stack import Client, Process, free_port
from tools.runstack import Backoff, _webhook_secret
from tests.wait import wait_for

START_TIMEOUT = 60
STOP_TIMEOUT = 60


def runstack_env(tmp_path, **settings):
    tasks, links = free_port(), free_port()
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "WORKERS": "1",
        "RUN_DIR": str(tmp_path / "run"),
        "REDIS_PORT": str(free_port()),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
        "ZMQ_TASKS_BIND": f"tcp://127.0.0.1:{tasks}",
        "ZMQ_LINKS_BIND": f"tcp://127.0.0.1:{links}",
        "ZMQ_TASKS_CONNECT": f"tcp://127.0.0.1:{tasks}",
        "ZMQ_LINKS_CONNECT": f"tcp://127.0.0.1:{links}",
        "HEARTBEAT_SECONDS": "0.5",
        "DRAIN_SECONDS": "2",
        **settings,
    }


def processes_in(run_dir):
    """Pids of every process (children and theirs) started with this RUN_DIR."""
    marker = f"RUN_DIR={run_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # not a process, gone, or not ours
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def started(output, name):
    return [int(pid) for pid in re.findall(rf"{name} started, pid (\d+)", output)]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def heartbeat_after(path, moment):
    return path.exists() and path.stat().st_mtime > moment


@pytest.fixture
def runstack(tmp_path, request):
    """Start runstack with settings; stop it, and show its log on failure."""
    launched = []

    def launch(**settings):
        env = runstack_env(tmp_path, **settings)
        process = Process("runstack", [sys.executable, "-m", "tools.runstack"], env, tmp_path)
        launched.append(process.start())
        return process, env

    yield launch
    for process in launched:
        process.stop(STOP_TIMEOUT)
        if getattr(request.node, "failed_call", False):
            print(process.output()[-6000:])


def wait_exit(process, timeout=STOP_TIMEOUT):
    wait_for(lambda: not process.alive, timeout, "runstack to exit")
    return process.proc.returncode


def test_killed_worker_is_restarted_and_ctrl_c_stops_everything(runstack):
    stack, env = runstack()
    client = Client(f"http://127.0.0.1:{env['API_PORT']}")
    wait_for(lambda: client.request("GET", "/readyz")[0] == 200, START_TIMEOUT,
             "the API's /readyz")
    heartbeat = Path(env["RUN_DIR"]) / "worker1.alive"
    wait_for(heartbeat.exists, START_TIMEOUT, "worker1's first heartbeat")
    assert "restarting in" not in stack.output(), "a process died before the test killed one"
    [first] = started(stack.output(), "worker1")

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "worker1 exited with status -9 (killed by SIGKILL); restarting in 1 s"
             in stack.output(), START_TIMEOUT, "the restart line")
    restarted_at = heartbeat.stat().st_mtime
    second = wait_for(lambda: started(stack.output(), "worker1")[1:], START_TIMEOUT,
                      "worker1 to start again")[0]
    wait_for(lambda: alive(second) and heartbeat_after(heartbeat, restarted_at),
             START_TIMEOUT, f"the new worker1 (pid {second}) to heartbeat")
    assert second != first and not alive(first)

    stack.signal(signal.SIGINT)
    assert wait_exit(stack) == 0, stack.output()[-4000:]
    output = stack.output()
    assert "stack stopped" in output
    assert output.count("restarting in") == 1, output[-4000:]
    assert processes_in(env["RUN_DIR"]) == [], output[-4000:]


def test_killed_redis_is_restarted_on_the_same_data(runstack):
    stack, env = runstack()
    client = Client(f"http://127.0.0.1:{env['API_PORT']}")
    wait_for(lambda: client.request("GET", "/readyz")[0] == 200, START_TIMEOUT,
             "the API's /readyz")
    [first] = started(stack.output(), "redis")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: "redis exited with status -9 (killed by SIGKILL); restarting in 1 s"
             in stack.output(), START_TIMEOUT, "redis's restart line")
    second = wait_for(lambda: started(stack.output(), "redis")[1:], START_TIMEOUT,
                      "redis to start again")[0]
    wait_for(lambda: client.request("GET", "/readyz")[0] == 200, START_TIMEOUT,
             "the API's /readyz after Redis came back")
    # redis-server rewrites its title, but works in its --dir once up.
    assert Path(f"/proc/{second}/cwd").resolve() == Path(env["RUN_DIR"]) / "redis"
    stack.signal(signal.SIGTERM)
    assert wait_exit(stack) == 0, stack.output()[-4000:]
    assert processes_in(env["RUN_DIR"]) == [], stack.output()[-4000:]


def test_backoff_doubles_while_dying_young_and_resets_after_a_minute_up():
    backoff = Backoff()
    assert [backoff.after(uptime=5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after(uptime=60) == 1
    assert backoff.after(uptime=0.5) == 2


def test_webhook_secret_is_made_once_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    run_dir = tmp_path / "run"
    secret = _webhook_secret(run_dir)
    path = run_dir / "webhook-secret"
    assert len(secret) == 64 and path.stat().st_mode & 0o777 == 0o600
    assert _webhook_secret(run_dir) == secret
    monkeypatch.setenv("WEBHOOK_SECRET", "set-by-the-user")
    assert _webhook_secret(run_dir) == "set-by-the-user"


def test_bad_setting_stops_the_stack_with_the_childs_message(runstack):
    stack, env = runstack(WORKER_CONCURRENCY="zero")
    status = wait_exit(stack, START_TIMEOUT)
    output = stack.output()
    assert status == 2, output[-4000:]
    assert "configuration error: WORKER_CONCURRENCY" in output, output[-4000:]
    assert "restarting cannot help" in output and "restarting in" not in output, output[-4000:]
    assert processes_in(env["RUN_DIR"]) == [], output[-4000:]
