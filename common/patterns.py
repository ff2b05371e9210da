"""
The job options C{include} and C{exclude}: regular expressions over URLs.

The patterns come from API callers, so they run on RE2 (google-re2), whose
matching time is linear in the URL whatever the pattern: C{(a+)+$} cannot
backtrack for hours as it can in Python's C{re}.  RE2 has no backreferences
and no lookaround, and refuses them when compiling; the API compiles every
pattern of a submission, so such a pattern gets a 422 naming it, and the
worker compiles a job's patterns once (it caches a job's settings).

Semantics are those of Scrapy's LinkExtractor C{allow}/C{deny}: a pattern
is I{searched} for in the whole absolute canonical URL (anchor it with
C{^...$} to match all of it).  Each list is one C{re2.Set}, so a URL costs
one pass per list however many patterns there are, and every compiled
program is bounded by L{MAX_MEM} (a pattern such as C{.{1000}x} is refused
rather than allowed to take memory without limit).
"""

from dataclasses import dataclass

import re2

# Bytes RE2 may use for one list's compiled program (and its DFA cache).
MAX_MEM = 4 * 1024 * 1024


class PatternError(ValueError):
    """A pattern list that cannot be used; the message names the pattern."""


def _options():
    options = re2.Options()
    options.max_mem = MAX_MEM
    options.log_errors = False      # the error goes back to the caller, not to stderr
    return options


def _why(error):
    """RE2's reason, as text (the binding gives bytes)."""
    reason = error.args[0] if error.args else error
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def check(name, patterns, max_patterns, max_length):
    """
    C{patterns} as a list of strings that RE2 compiles, within the caps.

    @raise PatternError: naming the option and the first bad pattern.
    """
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise PatternError(f"{name} must be a list of regular expressions (strings)")
    if len(patterns) > max_patterns:
        raise PatternError(f"{name} has {len(patterns)} patterns; at most {max_patterns}")
    options = _options()
    for pattern in patterns:
        if len(pattern) > max_length:
            raise PatternError(
                f"{name} pattern {pattern[:60]!r}... is {len(pattern)} characters; "
                f"at most {max_length}")
        try:
            re2.compile(pattern, options)
        except re2.error as e:
            raise PatternError(
                f"{name} pattern {pattern[:200]!r} is not an RE2 regular expression: "
                f"{_why(e)}") from None
    _compiled_set(name, patterns)
    return patterns


def _compiled_set(name, patterns):
    """One RE2 set searching for any of C{patterns}, or None for none."""
    if not patterns:
        return None
    matcher = re2.Set.SearchSet(_options())
    for pattern in patterns:
        matcher.Add(pattern)
    try:
        matcher.Compile()
    except re2.error:
        raise PatternError(
            f"the {name} patterns together are too large for RE2 "
            f"(over {MAX_MEM // 1024} KiB compiled)") from None
    return matcher


@dataclass(frozen=True)
class LinkFilter:
    """Which URLs a job's C{include}/C{exclude} patterns admit."""

    include: object = None          # an re2.Set, or None: everything
    exclude: object = None          # an re2.Set, or None: nothing

    @classmethod
    def of(cls, include=(), exclude=()):
        """Compile checked pattern lists (L{check}) once, for many URLs."""
        return cls(_compiled_set("include", list(include)), _compiled_set("exclude", list(exclude)))

    def admits(self, url):
        """Whether C{url} matches some include (if any) and no exclude."""
        if self.include is not None and self.include.Match(url) is None:
            return False
        return self.exclude is None or self.exclude.Match(url) is None
