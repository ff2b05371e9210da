"""
In-memory stand-ins for Redis and ZeroMQ, for unit tests.

L{FakeStore} is the real L{common.store.JobStore} over L{FakeRedis}, an
adapter that gives txredisapi's connection API over fakeredis: an
in-memory Redis that runs the very Lua scripts of C{common/lua/}.  A
hand-written Python twin of those scripts would have to follow every
change to them by hand and could drift; running the scripts themselves
leaves nothing to keep in step but fakeredis, which
tests/unit/test_store_contract.py checks by running one suite against the
fake and against a real redis-server.  Every Deferred the fake returns has
fired already, so code under test runs to completion synchronously unless
a test holds a step back on purpose.

Besides the store's methods a L{FakeStore} offers what tests need to look
inside: C{calls} and C{called(name)} (every public call with its
arguments), C{assert_job_ids()}, C{redis_state} (a plain fakeredis client
on the same data, used with the key names of L{common.keys}), and
C{ping_error} / C{ping_hangs} to make readiness checks fail.

L{FakeWire} stands in for L{common.wire} (ZeroMQ) in the dispatcher's and
the worker's unit tests: sockets that record what was sent, can be made
full, and deliver messages when the test says so.
"""

import functools
import inspect
import types

import fakeredis
import redis
import txredisapi
from redis.connection import DefaultParser
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from common.messages import is_job_id
from common.store import JobStore

# The Redis that production runs (Debian 12's redis-server, the redis:7 image).
REDIS_VERSION = (7, 0)

# redis-py's parser cuts the code (NOSCRIPT, ...) off the errors it knows.
_ERROR_CODES = {kind: code for code, kind in DefaultParser.EXCEPTION_CLASSES.items()
                if isinstance(kind, type)}


def _txredisapi_error(error):
    """
    The L{txredisapi.ResponseError} for a redis-py one, with the error line
    as Redis sent it: txredisapi's hiredis reader keeps its code, which is how
    C{evalsha} tells a NOSCRIPT from other errors.  A plain C{ResponseError}
    lost an C{ERR}, unless its text still starts with a code redis-py does
    not know (C{WRONGTYPE}, ...).
    """
    message = str(error)
    code = _ERROR_CODES.get(type(error), "ERR")
    if type(error) is redis.ResponseError and message.split(" ", 1)[0].isupper():
        return txredisapi.ResponseError(message)
    return txredisapi.ResponseError(f"{code} {message}")


@functools.cache
def _txredisapi_command(name):
    """
    txredisapi's method C{name} (a function or a static method), or None
    when there is none or it holds a connection of its own.
    """
    found = inspect.getattr_static(txredisapi.RedisProtocol, name, None)
    if isinstance(found, (types.FunctionType, staticmethod)) and not getattr(found, "_blocking", False):
        return found
    return None


class FakeRedis:
    """
    The txredisapi connection API that L{JobStore} uses, over fakeredis.

    The command methods are txredisapi's own (those of
    C{txredisapi.RedisProtocol}, bound to this object), so commands are
    built and replies post-processed as in production: C{hgetall}'s dict,
    C{evalsha} turning NOSCRIPT into L{txredisapi.ScriptDoesNotExist} (the
    store's fallback to EVAL), C{eval}'s record of loaded scripts.  Only the
    round trip, L{execute_command}, is fakeredis: the arguments encoded as
    txredisapi encodes them (a float as C{"%f"}), the raw reply shaped as
    txredisapi's hiredis reader with C{convertNumbers=False} gives it (str
    for a bulk or status string, C{None} for nil and for Lua's C{false}, int,
    nested lists), in an already-fired Deferred.  The commands that hold a
    connection of their own (MULTI, WATCH, pipelines, blocking pops) are
    refused: there is no connection to hold, and a blocking pop would hang
    the test.

    @param server: a C{fakeredis.FakeServer} to share with other connections
        (a new one by default).
    """

    # What txredisapi's encoding and decoding read, as common.store.connect sets it.
    charset = "utf-8"
    errors = "strict"
    convertNumbers = False

    def __init__(self, server=None):
        self.server = server or fakeredis.FakeServer(version=REDIS_VERSION)
        self._redis = fakeredis.FakeRedis(server=self.server, protocol=2)
        self._redis.response_callbacks.clear()     # raw replies: txredisapi shapes them
        self.script_hashes = set()                 # txredisapi's per-connection cache
        self.ping_error = None
        self.ping_hangs = False

    def __getattr__(self, name):
        command = _txredisapi_command(name)
        if command is None:
            raise AttributeError(f"{type(self).__name__} has no {name!r}")
        return command.__get__(self)

    def execute_command(self, *args, **kwargs):
        try:
            reply = self._redis.execute_command(*map(self._encode_value, args))
        except redis.ResponseError as error:
            return fail(_txredisapi_error(error))
        d = succeed(self._shape(reply))
        if callable(kwargs.get("post_proc")):
            d.addCallback(kwargs["post_proc"])
        return d

    def _shape(self, reply):
        """A raw fakeredis reply as txredisapi gives it."""
        if isinstance(reply, list):
            return [self._shape(item) for item in reply]
        if isinstance(reply, redis.ResponseError):     # an error nested in an array
            return _txredisapi_error(reply)
        return self.tryConvertData(reply)

    def ping(self):
        """PONG; a failure if a test set C{ping_error}, never if it set C{ping_hangs}."""
        if self.ping_error is not None:
            return fail(self.ping_error)
        if self.ping_hangs:
            return Deferred()
        return self.execute_command("PING")

    def disconnect(self):
        """Nothing to close: the data lives as long as the server object."""
        return succeed(None)


def _on_redis(name):
    """A store attribute that is really its FakeRedis's."""
    return property(lambda store: getattr(store.redis, name),
                    lambda store, value: setattr(store.redis, name, value))


def _recorded(name, method):
    """C{method}, recording each call (with its defaults filled in) first."""
    signature = inspect.signature(method)

    def record(store, args, kwargs):
        bound = signature.bind(store, *args, **kwargs)
        bound.apply_defaults()
        store._record(name, bound.args[1:])

    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def recorded(store, *args, **kwargs):
            record(store, args, kwargs)
            return await method(store, *args, **kwargs)
    else:
        @functools.wraps(method)
        def recorded(store, *args, **kwargs):
            record(store, args, kwargs)
            return method(store, *args, **kwargs)
    return recorded


def _recording(cls):
    """Make C{cls} record every call of a public L{JobStore} method."""
    for name, method in inspect.getmembers(JobStore, inspect.isfunction):
        if not name.startswith("_"):
            setattr(cls, name, _recorded(name, method))
    return cls


@_recording
class FakeStore(JobStore):
    """
    The real job store over a L{FakeRedis}, with its time from C{clock}
    (a new L{Clock} by default), recording every public call.
    """

    # Methods whose first argument is a job id, which the API must have checked
    # (job() refuses a malformed one itself, with ValueError).
    _JOB_ID_FIRST = ("images", "pages", "cancel")

    ping_error = _on_redis("ping_error")
    ping_hangs = _on_redis("ping_hangs")

    def __init__(self, clock=None):
        super().__init__(FakeRedis(), Clock() if clock is None else clock)
        self.calls = []

    @functools.cached_property
    def redis_state(self):
        """
        A plain (synchronous, decoding) fakeredis client on the store's data,
        to look inside with the key names of L{common.keys}.
        """
        return fakeredis.FakeRedis(server=self.redis.server, decode_responses=True, protocol=2)

    def _record(self, name, args):
        self.calls.append((name, args))
        if name in self._JOB_ID_FIRST and not is_job_id(args[0]):
            raise AssertionError(f"{name}({args[0]!r}): not a job id; the API must not pass it on")

    def called(self, name):
        return [args for called, args in self.calls if called == name]

    def assert_job_ids(self):
        """Every job id that reached the store was a well-formed one."""
        for name, args in self.calls:
            if name in ("job", *self._JOB_ID_FIRST):
                assert is_job_id(args[0]), f"{name}({args[0]!r}) reached the store"


# --- ZeroMQ, in memory ------------------------------------------------------------


class FakeZmqFactory:
    def __init__(self, reactor):
        self.reactor = reactor
        self.shut_down = False

    def shutdown(self):
        self.shut_down = True


class FakePush:
    """A PUSH socket: C{sent} holds what went out; C{room} (None: no limit)
    is how many more messages it takes before a send would block; C{keys}
    are the CURVE keys it was given (L{common.curve}, or None)."""

    def __init__(self, how, address, hwm, keys):
        self.how, self.address, self.hwm, self.keys = how, address, hwm, keys
        self.sent = []
        self.room = None

    def take(self):
        if self.room is not None and self.room <= 0:
            return False
        if self.room is not None:
            self.room -= 1
        return True


class FakePull:
    def __init__(self, how, address, hwm, on_message, keys):
        self.how, self.address, self.hwm, self.keys = how, address, hwm, keys
        self.on_message = on_message

    def deliver(self, raw):
        self.on_message(raw)


class FakeWire:
    """Stand-ins for L{common.wire}'s functions; install with C{install(monkeypatch)}."""

    def __init__(self):
        self.factories = []
        self.pushes = []
        self.pulls = []

    def install(self, monkeypatch):
        from common import wire
        for name in ("factory", "push", "pull", "can_send", "send"):
            monkeypatch.setattr(wire, name, getattr(self, name))
        return self

    def factory(self, reactor):
        self.factories.append(FakeZmqFactory(reactor))
        return self.factories[-1]

    def push(self, zmq_factory, how, address, hwm, keys):
        self.pushes.append(FakePush(how, address, hwm, keys))
        return self.pushes[-1]

    def pull(self, zmq_factory, how, address, hwm, on_message, keys):
        self.pulls.append(FakePull(how, address, hwm, on_message, keys))
        return self.pulls[-1]

    @staticmethod
    def can_send(connection):
        return connection.room is None or connection.room > 0

    @staticmethod
    def send(connection, message):
        assert isinstance(message, bytes)
        if not connection.take():
            return False
        connection.sent.append(message)
        return True


# --- the parser pool, in the test's own thread -------------------------------------


class InlineParser:
    """
    L{worker.parsing.ParserPool.parse} without the child processes: the
    same function a child runs (L{worker.parse_child.answer}), its answer
    turned into a L{Parsed} or a L{ParseFailed} as the pool does.
    tests/integration/test_parsing_processes.py shows the real children
    give the same results.
    """

    def __init__(self, max_urls):
        self.max_urls = max_urls
        self.parsed = []

    def parse(self, body, content_type, url):
        from worker.parse_child import Parsed, answer
        from worker.parsing import ParseFailed

        self.parsed.append(url)
        reply = answer({"url": url, "content_type": content_type, "cap": self.max_urls}, body)
        if "error" in reply:
            return fail(ParseFailed(reply["error"]))
        return succeed(Parsed(**reply["parsed"]))
