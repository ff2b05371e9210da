"""
C{python -m worker.healthcheck}: exit 0 while the worker's heartbeat file
is fresh.  The worker touches it from the same loop that reports to Redis,
so a wedged reactor shows up as unhealthy.
"""

import os
import sys
import time

from common import config as config_module


def main():
    config = config_module.from_env()
    try:
        age = time.time() - os.stat(config.worker_heartbeat_file).st_mtime
    except OSError as e:
        print(f"no heartbeat: {e}")
        return 1
    limit = 3 * config.heartbeat_seconds + 5
    if age > limit:
        print(f"heartbeat is {age:.0f} s old (limit {limit:.0f} s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
