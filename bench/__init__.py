"""
The benchmark harness: our stack against a reference Scrapy spider on a
synthetic site, on loopback only.  Entry point: C{python -m bench.run}
(C{make bench}, C{make bench-quick}, C{make bench-big}); see README.rst.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
