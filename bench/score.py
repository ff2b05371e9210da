"""
Recall and precision of a crawl against the site's exact expected sets.

URLs are compared as paths on the site server (C{http://127.0.0.1:P/x} ->
C{/x}) with the fragment dropped, the form L{bench.site} writes its truth
in; a URL on another host stays whole, so it can only count against
precision.
"""


def path_of(url, base):
    url = url.partition("#")[0]
    if url == base or url.startswith(base + "/"):
        return url[len(base):] or "/"
    return url


def score(found_urls, expected_paths, base):
    found = {path_of(u, base) for u in found_urls}
    expected = set(expected_paths)
    hits = len(found & expected)
    return {
        "expected": len(expected),
        "found": len(found),
        "recall": hits / len(expected) if expected else 1.0,
        "precision": hits / len(found) if found else 0.0,
        "missing_sample": sorted(expected - found)[:5],
        "unexpected_sample": sorted(found - expected)[:5],
    }
