"""
All configuration, read from the environment in one place.

Every setting has a safe default, so an empty environment runs a local
stack.  A bad value stops the process at start with a message naming the
variable: a typo in a compose file should fail loudly, not crawl with a
silently different limit.
"""

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting in the environment is malformed or out of range."""


def _number(kind, what, low, high, unit=""):
    """A parser for a C{kind} (int, float) between C{low} and C{high}."""

    def parse(name, raw):
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}{unit}, got {raw}")
        return value

    return parse


def _integer(low, high):
    return _number(int, "an integer", low, high)


def _seconds(low, high):
    return _number(float, "a number of seconds", low, high, " seconds")


def _flag(name, raw):
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _token(name, raw):
    token = raw.strip()
    if not token.isascii() or not token.isprintable():
        raise ConfigError(f"{name} must be printable ASCII")
    return token


def _nonempty(name, raw):
    if not raw.strip():
        raise ConfigError(f"{name} must not be empty")
    return raw.strip()


def _redis_url(name, raw):
    parts = urlsplit(raw)
    if parts.scheme != "redis" or not parts.hostname:
        raise ConfigError(f"{name} must look like redis://host:6379/0, got {raw!r}")
    try:
        parts.port
        int(parts.path.strip("/") or 0)
    except ValueError:
        raise ConfigError(f"{name} has a bad port or database number: {raw!r}") from None
    return raw


def _zmq_address(name, raw):
    if not raw.startswith(("tcp://", "ipc://", "inproc://")):
        raise ConfigError(f"{name} must be a ZeroMQ address like tcp://host:8050, got {raw!r}")
    return raw


def _log_level(name, raw):
    level = raw.strip().lower()
    if level not in ("debug", "info", "warn", "error", "critical"):
        raise ConfigError(f"{name} must be one of debug, info, warn, error, critical, got {raw!r}")
    return level


def _default_worker_id():
    return f"{socket.gethostname()}-{os.getpid()}"


# (environment variable, parser, default); the field name is the variable
# name in lower case.  This table is the documentation's source too.
SETTINGS = (
    ("REDIS_URL", _redis_url, "redis://localhost:6379/0"),
    ("LOG_LEVEL", _log_level, "info"),
    ("API_HOST", _nonempty, "0.0.0.0"),
    ("API_PORT", _integer(0, 65535), "8000"),
    ("API_TOKEN", _token, ""),
    ("ZMQ_TASKS_BIND", _zmq_address, "tcp://*:8050"),
    ("ZMQ_LINKS_BIND", _zmq_address, "tcp://*:8051"),
    ("ZMQ_TASKS_CONNECT", _zmq_address, "tcp://localhost:8050"),
    ("ZMQ_LINKS_CONNECT", _zmq_address, "tcp://localhost:8051"),
    ("MAX_REQUEST_BYTES", _integer(1024, 64 * 1024 * 1024), str(1024 * 1024)),
    ("MAX_START_URLS", _integer(1, 100_000), "1000"),
    ("DEFAULT_MAX_PAGES", _integer(1, 10_000_000), "1000"),
    ("MAX_PAGES_LIMIT", _integer(1, 10_000_000), "100000"),
    ("MAX_DEPTH_LIMIT", _integer(0, 100), "10"),
    ("LEASE_SECONDS", _seconds(1, 3600), "60"),
    ("MAX_ATTEMPTS", _integer(1, 100), "3"),
    ("REAP_INTERVAL", _seconds(0.05, 60), "1"),
    ("WORKER_CONCURRENCY", _integer(1, 1024), "16"),
    ("WORKER_ID", _nonempty, ""),
    ("HEARTBEAT_SECONDS", _seconds(0.1, 300), "2"),
    ("WORKER_HEARTBEAT_FILE", _nonempty, "/tmp/imagecrawler-worker.alive"),
    ("DRAIN_SECONDS", _seconds(0, 600), "20"),
    ("FETCH_TIMEOUT", _seconds(0.1, 600), "20"),
    ("MAX_BODY_BYTES", _integer(1024, 1024 * 1024 * 1024), str(5 * 1024 * 1024)),
    ("MAX_REDIRECTS", _integer(0, 50), "5"),
    ("HOST_CONCURRENCY", _integer(1, 1024), "4"),
    ("MAX_HOST_CONCURRENCY", _integer(1, 1024), "32"),
    ("HOST_DELAY_SECONDS", _seconds(0, 3600), "0"),
    ("MAX_CRAWL_DELAY", _seconds(0, 3600), "30"),
    ("RETRY_BASE_SECONDS", _seconds(0, 600), "1"),
    ("RETRY_MAX_SECONDS", _seconds(0, 3600), "60"),
    ("MAX_RETRY_AFTER", _seconds(0, 86400), "120"),
    ("PARSE_PROCESSES", _integer(1, 64), "1"),
    ("PARSE_TIMEOUT", _seconds(0.1, 600), "10"),
    ("MAX_FOUND_ON", _integer(1, 100_000), "100"),
    ("MAX_URLS_PER_PAGE", _integer(1, 1_000_000), "10000"),
    ("CRAWL_USER_AGENT", _nonempty,
     "ImageCrawler/1.0 (+https://github.com/imagecrawler/imagecrawler)"),
    ("ALLOW_PRIVATE_NETWORKS", _flag, "0"),
    ("OBEY_ROBOTS", _flag, "1"),
    ("JOB_TTL_SECONDS", _integer(0, 10 * 365 * 86400), str(7 * 86400)),
)


@dataclass(frozen=True)
class Config:
    redis_url: str
    log_level: str
    api_host: str
    api_port: int
    api_token: str
    zmq_tasks_bind: str
    zmq_links_bind: str
    zmq_tasks_connect: str
    zmq_links_connect: str
    max_request_bytes: int
    max_start_urls: int
    default_max_pages: int
    max_pages_limit: int
    max_depth_limit: int
    lease_seconds: float
    max_attempts: int
    reap_interval: float
    worker_concurrency: int
    worker_id: str
    heartbeat_seconds: float
    worker_heartbeat_file: str
    drain_seconds: float
    fetch_timeout: float
    max_body_bytes: int
    max_redirects: int
    host_concurrency: int
    max_host_concurrency: int
    host_delay_seconds: float
    max_crawl_delay: float
    retry_base_seconds: float
    retry_max_seconds: float
    max_retry_after: float
    parse_processes: int
    parse_timeout: float
    max_found_on: int
    max_urls_per_page: int
    crawl_user_agent: str
    allow_private_networks: bool
    obey_robots: bool
    job_ttl_seconds: int


def from_env(environ=None):
    """
    Build a L{Config} from C{environ} (default: C{os.environ}).

    @raise ConfigError: naming the first bad variable.
    """
    environ = os.environ if environ is None else environ
    values = {}
    for name, parse, default in SETTINGS:
        raw = environ.get(name, default)
        if name == "WORKER_ID" and not raw:
            values[name.lower()] = _default_worker_id()
            continue
        values[name.lower()] = parse(name, raw)
    config = Config(**values)
    if config.default_max_pages > config.max_pages_limit:
        raise ConfigError("DEFAULT_MAX_PAGES must not exceed MAX_PAGES_LIMIT")
    if config.host_concurrency > config.max_host_concurrency:
        raise ConfigError("HOST_CONCURRENCY must not exceed MAX_HOST_CONCURRENCY")
    return config

