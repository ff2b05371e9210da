"""
Logging for every process: one line per event on stdout, at LOG_LEVEL.

Containers and C{make run} both collect stdout, so that is the only sink.
"""

import sys

from twisted.logger import (
    FilteringLogObserver, LogLevel, LogLevelFilterPredicate, PredicateResult,
    globalLogBeginner, textFileLogObserver,
)

# Twisted announces every client connection pool's factory; per page, that
# is noise that drowns the crawler's own lines.
_CHATTER = ("Starting factory", "Stopping factory")


def _not_chatter(event):
    text = event.get("log_format") or ""
    if text.startswith(_CHATTER) or str(event.get("message", ("",))[:1]).startswith(_CHATTER):
        return PredicateResult.no
    return PredicateResult.maybe


def start(level_name, stream=None):
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level_name))
    observer = FilteringLogObserver(
        textFileLogObserver(stream or sys.stdout), [predicate, _not_chatter])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
