"""
C{python -m bench.url_cost}: what resolving one URL costs, the hand-written
parser of before (commit L{BEFORE}) against the URL Standard's (ada), side
by side in the same run, and how often each agrees with browsers.

The URLs are the ones the extractor hands to C{resolve()} on C{--pages}
pages of the benchmark site (L{bench.site}, the default L{Shape}): each
distinct href, src, srcset candidate and CSS url() of a page, against the
page's URL, as a worker sees them.  The site writes them all root-relative
or relative and ASCII, so the same URLs are also timed as pages on other
sites write them:

  - C{absolute}: the resolved URL itself, as CDNs and CMSs write links;
  - C{non-ASCII}: absolute, on an IDN host, with a non-ASCII path segment;
  - C{./relative}: each written C{./x} instead (no shortcut applies).

Each group runs C{--repeat} times, old and new in turn, and the fastest
run of each counts (the machine is shared); C{no shortcut} is the new
parser without C{resolve()}'s plain-path shortcut (C{normalize()}: ada every
time), which is what the shortcut must beat to stay; C{differ} counts the
URLs the two parsers resolve differently.  Then the web-platform-tests URL cases an
http(s) page can contain (L{tests.unit.test_url_wpt}) are scored for both:
with the crawler's policy applied to the expected answer (the unit test's
comparison), and as issue 10 measured them (the standard's answer less its
fragment, leaving out self-references, non-http(s) results and an empty
query).
"""

import argparse
import gc
import subprocess
import time
import types

import worker.extract
from bench import ROOT
from bench.site import Shape, render
from common import urls as new
from tests.unit.test_url_wpt import expected_href, is_self_reference, page_cases

BEFORE = "d2891b6fc3c478dbee96dde86f31e3e3eb9da7b2"
SITE = "http://127.0.0.1:8080"


def old_parser():
    """common/urls.py as it was at L{BEFORE}, loaded as a module of its own."""
    shown = subprocess.run(["git", "show", f"{BEFORE}:common/urls.py"], cwd=ROOT,
                           capture_output=True, text=True, check=False)
    if shown.returncode:
        raise SystemExit(f"bench.url_cost: cannot read the old parser: {shown.stderr.strip()}")
    module = types.ModuleType("urls_before")
    exec(compile(shown.stdout, f"{BEFORE[:7]}:common/urls.py", "exec"), module.__dict__)
    return module


def found_on_pages(count):
    """(ref, page URL) for every call the extractor makes to resolve()."""
    calls, real = [], worker.extract.resolve

    def record(ref, base):
        calls.append((ref, base))
        return real(ref, base)

    worker.extract.resolve = record
    try:
        for n in range(1, count + 1):
            worker.extract.extract(render(n, Shape()), f"{SITE}/p/{n}.html")
    finally:
        worker.extract.resolve = real
    return calls


def groups(calls):
    """The site's URLs, and the same URLs as other sites write them."""
    resolved = [(new.resolve(ref, base), base) for ref, base in calls]
    absolute = [(url, base) for url, base in resolved if url is not None]
    return {
        "site pages": calls,
        "absolute": absolute,
        "non-ASCII": [(url.replace(SITE, "http://bücher.example/café"), base)
                      for url, base in absolute],
        "./relative": [("./" + ref.lstrip("/"), base)
                       for (ref, base), (url, _) in zip(calls, resolved) if url is not None],
    }


def best_ns_per_url(resolvers, pairs, repeat):
    """Fastest run of each resolver over C{pairs}, in ns per URL, taking turns."""
    best = [float("inf")] * len(resolvers)
    for _ in range(repeat):
        for i, resolve in enumerate(resolvers):
            gc.collect()
            start = time.perf_counter_ns()
            for ref, base in pairs:
                resolve(ref, base)
            best[i] = min(best[i], time.perf_counter_ns() - start)
    return [elapsed / len(pairs) for elapsed in best]


def agreement(normalize, cases, expect):
    """How many of C{cases} C{normalize} resolves to C{expect(case)}."""
    return sum(normalize(case["input"], case["base"]) == expect(case) for case in cases)


def _issue_expectation(case):
    return None if case.get("failure") else case["href"].partition("#")[0]


def _issue_cases(cases):
    """Issue 10's selection: no self-reference, an http(s) result or a
    failure, and no empty query."""
    return [case for case in cases if not is_self_reference(case) and (
        case.get("failure") or case["protocol"] in ("http:", "https:")
        and not (case["search"] == "" and case["href"].partition("#")[0].endswith("?")))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    old = old_parser()
    calls = found_on_pages(args.pages)
    print(f"resolve() on the URLs of {args.pages} pages of bench.site ({len(calls)} calls), "
          f"best of {args.repeat}; old = {BEFORE[:7]}, new = ada {new.ada_url.get_version()}")
    print(f"{'URLs':<12} {'count':>6} {'old ns/URL':>11} {'new ns/URL':>11} {'new/old':>8} "
          f"{'no shortcut':>12} {'differ':>7}")
    resolvers = (old.resolve, new.resolve, new.normalize)
    for name, pairs in groups(calls).items():
        old_ns, new_ns, parser_ns = best_ns_per_url(resolvers, pairs, args.repeat)
        differ = sum(old.resolve(ref, base) != new.resolve(ref, base) for ref, base in pairs)
        print(f"{name:<12} {len(pairs):>6} {old_ns:>11.0f} {new_ns:>11.0f} "
              f"{new_ns / old_ns:>8.2f} {parser_ns:>12.0f} {differ:>7}")
    cases = page_cases()
    chosen = _issue_cases(cases)
    for label, subset, expect in (("with the crawler's policy", cases, expected_href),
                                  ("as issue 10 measured", chosen, _issue_expectation)):
        print(f"WPT URL cases {label}: old agrees on {agreement(old.normalize, subset, expect)}"
              f" of {len(subset)}, new on {agreement(new.normalize, subset, expect)}")


if __name__ == "__main__":
    main()
