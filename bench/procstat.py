"""
Resource use read from the processes' own accounting, never estimated.

  - CPU: utime + stime from C{/proc/PID/stat} (all threads of the process);
  - memory: C{VmRSS} and C{VmHWM} (peak RSS) from C{/proc/PID/status};
  - Redis: C{INFO} sections over the tests' own RESP client;
  - Redis round trips: the TCP data segments each client process sent to
    the Redis port, from C{ss -ti}.  C{INFO commandstats} cannot tell a
    client's command from one a Lua script ran inside Redis, and pipelined
    commands written together cost one round trip, so the segment count is
    the honest measure of what the target "round trips per page" means.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_SS_PID = re.compile(r"pid=(\d+)")
_SS_SEGS = re.compile(r"\bdata_segs_out:(\d+)")
_SS_LOCAL = re.compile(r"^\S+\s+\d+\s+\d+\s+(\S+)")


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / _CLOCK_TICKS


def children(pid):
    """The pids whose parent is C{pid}, from C{/proc/*/stat}."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue            # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def memory_mb(pid):
    """C{{"rss": MB now, "peak": MB at most so far}}."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            status[name] = int(value.split()[0]) / 1024
    return {"rss": status.get("VmRSS", 0.0), "peak": status.get("VmHWM", 0.0)}


def cpu_of(pids):
    """C{{name: CPU seconds}} for C{{name: pid}}."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def redis_info(redis, section):
    """One C{INFO} section of a L{tests.stack.RedisServer} as C{{field: text}}."""
    fields = {}
    for line in redis.command("INFO", section).splitlines():
        name, sep, value = line.strip().partition(":")
        if sep and not name.startswith("#"):
            fields[name] = value
    return fields


def redis_calls(redis):
    """C{{command: calls}} since the last C{CONFIG RESETSTAT}, without the
    harness's own C{INFO} and C{CONFIG} calls."""
    calls = {}
    for name, value in redis_info(redis, "commandstats").items():
        command = name.removeprefix("cmdstat_")
        if command == "info" or command.startswith("config"):
            continue
        calls[command] = int(value.split(",", 1)[0].removeprefix("calls="))
    return calls


def redis_segments(port):
    """C{{(pid, local address): data segments sent}} for every client
    socket connected to the Redis on C{port}; C{None} without C{ss}."""
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-tinpH", "dst", f"127.0.0.1:{port}"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    found, current = {}, None
    for line in out.splitlines():
        if not line[:1].isspace():
            local, pid = _SS_LOCAL.match(line), _SS_PID.search(line)
            current = (int(pid.group(1)), local.group(1)) if local and pid else None
            continue
        segs = _SS_SEGS.search(line)
        if current is not None and segs is not None:
            found[current] = int(segs.group(1))
    return found


def round_trips(before, after, pids):
    """C{{name: segments sent to Redis between two L{redis_segments}}}."""
    if before is None or after is None:
        return None
    return {name: sum(segs - before.get(key, 0) for key, segs in after.items() if key[0] == pid)
            for name, pid in pids.items()}
