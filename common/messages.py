"""
The messages that cross ZeroMQ, as plain functions.

Only two kinds travel: a task (api -> worker, on the tasks socket) and a
notice that a page finished (worker -> api, on the links socket).  Both are
small JSON objects; the state they describe lives in Redis, so a lost or
repeated message costs time, never correctness.
"""

import json
import re
from dataclasses import dataclass

_JOB_ID = re.compile(r"[0-9a-f]{32}\Z")


class BadMessage(ValueError):
    """A message from the wire that is not what the protocol says."""


def is_job_id(text):
    """Job ids are 32 lowercase hex digits; nothing else reaches a Redis key."""
    return isinstance(text, str) and _JOB_ID.match(text) is not None


@dataclass(frozen=True)
class Task:
    """
    Crawl one page of one job: C{{"job", "url", "depth", "attempt", "lease"}}.

    C{lease} numbers the push: only the push that holds the task's lease in
    Redis may act on it, so a stale copy (from a frozen worker's buffers, or
    taken back and pushed again since) is dropped, never crawled twice.
    """

    job: str
    url: str
    depth: int
    attempt: int = 1
    lease: int = 0


def encode_task(task):
    return json.dumps(
        {"job": task.job, "url": task.url, "depth": task.depth, "attempt": task.attempt,
         "lease": task.lease},
        separators=(",", ":"),
    ).encode()


def _load_object(raw):
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadMessage(f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise BadMessage("not a JSON object")
    return message


def decode_task(raw):
    """
    @raise BadMessage: when C{raw} is not a well-formed task.
    """
    message = _load_object(raw)
    job, url = message.get("job"), message.get("url")
    depth, attempt = message.get("depth"), message.get("attempt", 1)
    lease = message.get("lease", 0)
    if not is_job_id(job):
        raise BadMessage(f"bad job id {job!r}")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or " " in url:
        raise BadMessage(f"bad url {url!r}")
    for name, value in (("depth", depth), ("attempt", attempt), ("lease", lease)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadMessage(f"bad {name} {value!r}")
    return Task(job, url, depth, attempt, lease)


def encode_notice(job, admitted):
    """A worker's word that a page of C{job} finished, admitting C{admitted} links."""
    return json.dumps({"job": job, "admitted": admitted}, separators=(",", ":")).encode()


def decode_notice(raw):
    message = _load_object(raw)
    job, admitted = message.get("job"), message.get("admitted")
    if not is_job_id(job) or not isinstance(admitted, int) or isinstance(admitted, bool):
        raise BadMessage(f"bad notice {message!r}")
    return job, admitted
