"""
A job's webhook options: where its lifecycle events go, and which.

Pure functions.  C{callback_url} is checked like a start URL (an absolute
http(s) URL, normalised); whether its address may be reached is decided
when an event is delivered, by the same guard as crawling
(L{common.safety}), on the address it resolves to then.
"""

from common import keys
from common.urls import InvalidURL, check_start_url

# What C{callback_events} may list: the events of L{common.keys.EVENTS}, short.
EVENT_NAMES = tuple(event.removeprefix("job.") for event in keys.EVENTS)
DEFAULT_EVENTS = ("completed", "cancelled", "failed")
DEFAULT_EVERY_PAGES = 100
MAX_EVERY_PAGES = 10_000_000


class CallbackOptionError(ValueError):
    """A bad webhook option; C{code} is the API error code."""

    def __init__(self, message, code="bad_option"):
        super().__init__(message)
        self.code = code


def callback_options(given, config):
    """
    C{callback_url}, C{callback_events}, C{callback_every_pages} from the
    submission's options, checked, defaults filled in.  A job may name a
    callback only where the operator set C{WEBHOOK_SECRET}: an unsigned
    event could be forged by anyone who learns the URL.

    @raise CallbackOptionError: naming the problem.
    """
    url = given.get("callback_url")
    if url is not None:
        url = _url(url)
        if not config.webhook_secret:
            raise CallbackOptionError(
                "callback_url needs WEBHOOK_SECRET, which this API's operator has not set: "
                "webhooks are off", code="webhooks_disabled")
    return {
        "callback_url": url,
        "callback_events": _events(given.get("callback_events", list(DEFAULT_EVENTS))),
        "callback_every_pages": _every(given.get("callback_every_pages", DEFAULT_EVERY_PAGES)),
    }


def _url(value):
    try:
        return check_start_url(value)
    except InvalidURL as e:
        raise CallbackOptionError(f"callback_url: {e}") from None


def _events(value):
    """A list of names, or one string of comma-separated names (a query)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CallbackOptionError(
            f"callback_events must be a list of {', '.join(EVENT_NAMES)}")
    names = [n.strip() for v in value for n in v.split(",") if n.strip()]
    unknown = sorted(set(names) - set(EVENT_NAMES))
    if unknown:
        raise CallbackOptionError(
            f"callback_events: unknown event(s) {', '.join(unknown)[:100]}; "
            f"known: {', '.join(EVENT_NAMES)}")
    return list(dict.fromkeys(names))


def _every(value):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_EVERY_PAGES:
        raise CallbackOptionError(
            f"callback_every_pages must be an integer from 1 to {MAX_EVERY_PAGES}, got {value!r:.60}")
    return value


def wants(options, event):
    """Whether a job with these options has C{event} (C{"job.completed"}...) sent."""
    if not options or not options.get("callback_url"):
        return False
    return event.removeprefix("job.") in options.get("callback_events", DEFAULT_EVENTS)
