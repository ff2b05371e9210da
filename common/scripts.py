"""
The Lua scripts that make every state change one atomic step.

Each script is the shared helpers (C{lua/lib.lua}, C{lua/hosts.lua},
C{lua/jobs.lua}, in that order) followed by its own file.  It is sent by its
SHA-1, computed once, and in full only when Redis does not know it yet
(the first call, or after a Redis restart).
"""

import hashlib
from pathlib import Path

from txredisapi import ScriptDoesNotExist

from common import keys

_HERE = Path(__file__).parent / "lua"
# The constants the scripts share with Python, then the helpers.
_CONSTANTS = (f"local START_MARGIN = {keys.START_MARGIN!r}\n"
              f"local EVENTS_MAXLEN = {keys.EVENTS_MAXLEN!r}\n")
_LIB = _CONSTANTS + "\n".join(
    (_HERE / f"{part}.lua").read_text() for part in ("lib", "hosts", "jobs"))


class Script:
    """A named Lua script from C{common/lua/}."""

    def __init__(self, name):
        self.name = name
        self.source = _LIB + "\n" + (_HERE / f"{name}.lua").read_text()
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    def __call__(self, redis, *args):
        """Run with the key prefix as the first argument, as lib.lua expects."""
        args = [keys.PREFIX, *args]
        d = redis.evalsha(self.sha, [], args)
        return d.addErrback(self._send_source, redis, args)

    def _send_source(self, failure, redis, args):
        failure.trap(ScriptDoesNotExist)
        return redis.eval(self.source, [], args)


CREATE_JOB = Script("create_job")
LEASE = Script("lease")
START = Script("start")
RESERVE = Script("reserve")
PACE = Script("pace")
RELEASE = Script("release")
RETRY = Script("retry")
ROBOTS = Script("robots")
FINISH = Script("finish")
REAP = Script("reap")
CANCEL = Script("cancel")
HEARTBEAT = Script("heartbeat")
WEBHOOK_TAKE = Script("webhook_take")
WEBHOOK_SETTLE = Script("webhook_settle")
