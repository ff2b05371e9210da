"""
The Lua scripts that make every state change one atomic step.

Each script is C{lua/lib.lua} followed by its own file; txredisapi sends
it with EVALSHA and falls back to EVAL when Redis does not know it yet
(for instance after a Redis restart).
"""

from pathlib import Path

from common import keys

_HERE = Path(__file__).parent / "lua"
_LIB = (_HERE / "lib.lua").read_text()


class Script:
    """A named Lua script from C{common/lua/}."""

    def __init__(self, name):
        self.name = name
        self.source = _LIB + "\n" + (_HERE / f"{name}.lua").read_text()

    def __call__(self, redis, *args):
        """Run with the key prefix as the first argument, as lib.lua expects."""
        return redis.eval(self.source, [], [keys.PREFIX, *args])


CREATE_JOB = Script("create_job")
LEASE = Script("lease")
START = Script("start")
FINISH = Script("finish")
REAP = Script("reap")
CANCEL = Script("cancel")
HEARTBEAT = Script("heartbeat")
