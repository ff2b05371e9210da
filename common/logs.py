"""
Logging for every process: one line per event on stdout, at LOG_LEVEL, as
LOG_FORMAT says.

Containers and C{make run} both collect stdout, so that is the only sink.

  - C{text} (the default, for a terminal and C{make run}): short lines,
    C{12:00:01.234 info  api.resources  job 3f2a created: 1 start URL(s)};
  - C{json} (the containers' default, for log collectors): one flat JSON
    object a line, C{time}, C{level}, C{process}, C{system}, C{event},
    C{message}, and the fields the call site gave (C{job}, C{url},
    C{worker}, counts, C{stats}, C{duration}...).

Call sites name what happened with a stable C{event} field, and pass
C{job}/C{url}/C{worker} as fields rather than only in the text:

    log.info("job {job} created: {n} start URL(s)", event="job.created", job=job_id, n=1)

twisted.logger's own JSON (C{eventAsJSON}) is not used: it nests the
format string, the level as an object and every private C{log_*} key,
which no collector can read at a glance.
"""

import json
import sys
import time

from twisted.logger import (
    FilteringLogObserver, LogLevel, LogLevelFilterPredicate, PredicateResult,
    formatEvent, globalLogBeginner,
)

FORMATS = ("text", "json")
# Twisted announces every client connection pool's factory; per page, that
# is noise that drowns the crawler's own lines.
_CHATTER = ("Starting factory", "Stopping factory")
# Fields of every JSON line, in this order; a call site's own field of the
# same name does not replace them.
_FIXED = ("time", "level", "process", "system", "event", "message")
_SCALARS = (str, int, float, bool, type(None))


def _not_chatter(event):
    text = event.get("log_format") or ""
    if text.startswith(_CHATTER) or str(event.get("message", ("",))[:1]).startswith(_CHATTER):
        return PredicateResult.no
    return PredicateResult.maybe


def _level(event):
    level = event.get("log_level")
    return level.name if level is not None else "info"


def _system(event):
    """The module that logged (twisted.logger's namespace), or the legacy system."""
    return event.get("log_namespace") or event.get("log_system") or "-"


def _message(event):
    """The formatted text, with the traceback of a logged failure."""
    text = formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        text = f"{text}\n{failure.getTraceback()}".rstrip("\n")
    return text


def _readable(value):
    """Whether C{value} is plain JSON (scalars, lists, dicts of them)."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return all(_readable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _readable(v) for k, v in value.items())
    return False


def iso_time(epoch):
    """C{2024-05-01T12:00:01.234Z}: UTC, milliseconds."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int(epoch % 1 * 1000):03d}Z"


def json_line(event, process):
    """
    One flat JSON object for C{event}: the fixed fields, then the call
    site's own plain fields (objects such as exceptions are left to the
    message text; a failure adds C{error}).
    """
    record = {
        "time": iso_time(event.get("log_time", time.time())),
        "level": _level(event),
        "process": process,
        "system": _system(event),
        "event": event.get("event") or _system(event),
        "message": _message(event),
    }
    for key, value in event.items():
        if key.startswith("log_") or key in _FIXED or not _readable(value):
            continue
        record[key] = value
    failure = event.get("log_failure")
    if failure is not None:
        record["error"] = f"{failure.type.__name__}: {failure.getErrorMessage()}"
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def text_line(event, process):
    """C{12:00:01.234 info  api.resources  message}: the prefix of
    C{make run} already names the process."""
    moment = event.get("log_time", time.time())
    clock = time.strftime("%H:%M:%S", time.localtime(moment)) + f".{int(moment % 1 * 1000):03d}"
    return f"{clock} {_level(event):<5} {_system(event)}  {_message(event)}\n"


def observer(stream, fmt, process):
    """A log observer writing each event to C{stream} as a C{fmt} line."""
    render = json_line if fmt == "json" else text_line

    def write(event):
        stream.write(render(event, process))
        stream.flush()

    return write


def filtered(level_name, fmt, process, stream):
    """L{observer} behind the level and chatter filters."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level_name))
    return FilteringLogObserver(observer(stream, fmt, process), [predicate, _not_chatter])


def start(level_name, fmt="text", process="-", stream=None):
    globalLogBeginner.beginLoggingTo(
        [filtered(level_name, fmt, process, stream or sys.stdout)], redirectStandardIO=False)
