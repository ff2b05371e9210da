import pytest

from tests.stack import RedisServer, Stack


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path, appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture
def make_stack(tmp_path, redis_server, request):
    """Start stacks with given settings; stop them and show logs on failure."""
    stacks = []

    def make(workers=2, **settings):
        stack = Stack(tmp_path, redis_server, **settings)
        stacks.append(stack)
        return stack.start(workers=workers)

    yield make
    failed = getattr(request.node, "failed_call", False)
    for stack in stacks:
        stack.stop()
        if failed:
            print(stack.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed_call = True
    return report
