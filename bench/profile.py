"""
C{--profile}: sample one worker with py-spy while it crawls, and rank
functions by their own (self) time.

py-spy reads the worker's memory from outside, so the worker runs its
normal code; C{--nonblocking} keeps it from pausing the worker at each
sample, so the run it profiles is still a fair measurement.  Samples are
kept in py-spy's raw (collapsed stack) format, one stack per line, which
flame graph tools read and which L{top} ranks here.
"""

import re
import signal
import subprocess
from collections import Counter
from contextlib import contextmanager

from bench.reference import BENCH_VENV

PY_SPY = BENCH_VENV / "bin" / "py-spy"
RATE = 200
_FILE = re.compile(r"\((.*):\d+\)$")


def available():
    return PY_SPY.exists()


@contextmanager
def recording(pid, raw_path, log_path):
    """py-spy samples C{pid} for as long as the block runs."""
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw", "--function",
            "--nonblocking", "--rate", str(RATE), "--output", str(raw_path)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def top(raw_path, count=15):
    """
    C{(samples, [(frame, own, inclusive)...])}: the C{count} frames with
    the most samples at the top of the stack, with the samples in which
    they appear anywhere (each stack counted once per frame).
    """
    own, inclusive, samples = Counter(), Counter(), 0
    for line in raw_path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        frames, n = stack.split(";"), int(number)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return samples, [(frame, n, inclusive[frame]) for frame, n in own.most_common(count)]


def by_package(raw_path):
    """Own samples per package (C{twisted}, C{bs4}, C{worker}...) or
    stdlib module: which layer the time goes to, at a glance."""
    packages = Counter()
    for line in raw_path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            packages[_package(stack.split(";")[-1])] += int(number)
    return packages.most_common()


def _package(frame):
    match = _FILE.search(frame)
    path = match.group(1) if match else frame
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    parts = path.split("/")
    if len(parts) > 1 and not path.startswith("/"):
        return parts[0]
    return parts[-1].removesuffix(".py")


def by_our_code(raw_path, roots=("worker/", "common/", "api/")):
    """Samples per function of ours nearest the top of each stack: what
    our code costs including the library calls it makes (bs4 under
    C{extract}, txredisapi under the store...); C{"(reactor)"} when only
    the process's entry point is: Twisted's own I/O, HTTP and Redis
    protocol work, and the callbacks between them."""
    owners = Counter()
    for line in raw_path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            frames = stack.split(";")
            mine = [f for f in frames if _FILE.search(f) and _FILE.search(f).group(1).startswith(roots)]
            entry = not mine or any(e in mine[-1] for e in ("__main__.py", "common/process.py"))
            owners["(reactor)" if entry else mine[-1]] += int(number)
    return owners.most_common()
