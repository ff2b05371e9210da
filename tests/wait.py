"""Waiting for conditions, never for a guessed time."""

import time


class Timeout(AssertionError):
    pass


def wait_for(condition, timeout, message, interval=0.05):
    """
    Call C{condition()} until it returns something true, and return that.

    @raise Timeout: after C{timeout} seconds, with C{message} and the last
        value or exception seen, so a failure says what it was waiting for.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except Exception as e:  # the condition may fail until it holds
            last = e
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout} s waiting for {message}; last: {last!r}")
        time.sleep(interval)
