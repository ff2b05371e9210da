"""
All configuration, read from the environment in one place.

Every setting has a safe default, so an empty environment runs a local
stack.  A bad value stops the process at start with a message naming the
variable: a typo in a compose file should fail loudly, not crawl with a
silently different limit.
"""

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from common import curve


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


def _tokens(name, raw):
    """Bearer tokens separated by commas or white space: several callers,
    or an old and a new token while clients change over."""
    tokens = tuple(raw.replace(",", " ").split())
    if not all(token.isascii() and token.isprintable() for token in tokens):
        raise ConfigError(f"{name} must be printable ASCII tokens separated by commas or spaces")
    return tokens


def _tokens_file(name, path):
    """
    The tokens in file C{path}, one a line; blank lines and lines starting
    with C{#} are skipped.  Messages name lines, never what is on them.
    """
    try:
        with open(path, encoding="ascii") as f:
            lines = f.read().splitlines()
    except (OSError, ValueError) as e:
        raise ConfigError(f"{name}: cannot read {path!r}: {e}") from None
    tokens = []
    for number, line in enumerate(lines, 1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if not token.isprintable() or len(token.split()) != 1:
            raise ConfigError(f"{name}: line {number} of {path!r} is not one printable ASCII token")
        tokens.append(token)
    if not tokens:
        raise ConfigError(f"{name}: {path!r} holds no token")
    return tuple(tokens)


def _optional_text(name, raw):
    """Free text, such as a file name, that may be left empty."""
    return raw.strip()


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


def _zmq_keys(name, raw):
    """The CURVE keys in directory C{raw} (L{curve.load}), or None when
    unset: the wire is then plaintext, and may bind loopback only."""
    if not raw.strip():
        return None
    try:
        return curve.load(raw.strip())
    except curve.KeyFileError as e:
        raise ConfigError(f"{name}: {e}") from None


def _refuse_plaintext_exposure(config):
    """
    Without keys whoever reaches the task socket takes tasks, so a bind
    that other machines can reach needs ZMQ_KEYS_DIR.  Refused, not quietly
    narrowed to 127.0.0.1: whoever wrote C{tcp://*:8050} expects workers on
    other machines, which would then wait for tasks that never come with
    nothing in any log; exit 2 says what is wrong and how to fix it.
    Workers bind nothing, but an environment that would expose an API
    is refused for them too.
    """
    if config.zmq_keys_dir is not None:
        return
    for name in ("ZMQ_TASKS_BIND", "ZMQ_LINKS_BIND"):
        address = getattr(config, name.lower())
        if curve.reachable_from_outside(address):
            raise ConfigError(
                f"{name}={address} lets other machines connect, and without ZMQ_KEYS_DIR "
                "anyone who does takes tasks: set ZMQ_KEYS_DIR (python -m common.curve DIR "
                "makes the keys) or bind tcp://127.0.0.1")


def _log_level(name, raw):
    level = raw.strip().lower()
    if level not in ("debug", "info", "warn", "error", "critical"):
        raise ConfigError(f"{name} must be one of debug, info, warn, error, critical, got {raw!r}")
    return level


def _log_format(name, raw):
    fmt = raw.strip().lower()
    if fmt not in ("text", "json"):
        raise ConfigError(f"{name} must be text or json, got {raw!r}")
    return fmt


def _networks(name, raw):
    """CIDRs separated by commas or spaces, such as C{10.1.0.0/16, fd00::/8}."""
    networks = []
    for item in raw.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as e:
            raise ConfigError(f"{name} must list networks such as 10.1.0.0/16: {e}") from None
    return tuple(networks)


def _default_worker_id():
    return f"{socket.gethostname()}-{os.getpid()}"


# (environment variable, parser, default); the field name is the variable
# name in lower case.  This table is the documentation's source too.
SETTINGS = (
    ("REDIS_URL", _redis_url, "redis://localhost:6379/0"),
    ("LOG_LEVEL", _log_level, "info"),
    # text: short lines for a terminal; json: one object a line (common/logs.py).
    ("LOG_FORMAT", _log_format, "text"),
    ("API_HOST", _nonempty, "0.0.0.0"),
    ("API_PORT", _integer(0, 65535), "8000"),
    ("API_TOKEN", _tokens, ""),
    # Requests that must not hold the API up (api/http.py, api/site.py).
    ("API_TOKENS_FILE", _optional_text, ""),
    ("METRICS_TOKEN", _tokens, ""),
    ("REQUEST_HEADER_TIMEOUT", _seconds(0.1, 3600), "10"),
    ("REQUEST_BODY_TIMEOUT", _seconds(0.1, 3600), "30"),
    ("API_STORE_TIMEOUT", _seconds(0.1, 600), "2"),
    # The live event stream (api/events.py).
    ("EVENTS_POLL_SECONDS", _seconds(0.05, 60), "0.5"),
    ("EVENTS_HEARTBEAT_SECONDS", _seconds(1, 3600), "15"),
    ("EVENTS_MAX_STREAMS", _integer(1, 100_000), "200"),
    ("ZMQ_TASKS_BIND", _zmq_address, "tcp://127.0.0.1:8050"),
    ("ZMQ_LINKS_BIND", _zmq_address, "tcp://127.0.0.1:8051"),
    ("ZMQ_TASKS_CONNECT", _zmq_address, "tcp://localhost:8050"),
    ("ZMQ_LINKS_CONNECT", _zmq_address, "tcp://localhost:8051"),
    # CURVE between the API and the workers (common/curve.py); empty: plaintext, loopback only.
    ("ZMQ_KEYS_DIR", _zmq_keys, ""),
    ("MAX_REQUEST_BYTES", _integer(1024, 64 * 1024 * 1024), str(1024 * 1024)),
    ("MAX_START_URLS", _integer(1, 100_000), "1000"),
    ("DEFAULT_MAX_PAGES", _integer(1, 10_000_000), "1000"),
    ("MAX_PAGES_LIMIT", _integer(1, 10_000_000), "100000"),
    # Deep enough for a site's chain of "next" pages; max_pages bounds the work.
    ("MAX_DEPTH_LIMIT", _integer(0, 1_000_000), "1000"),
    # Job options include/exclude (common/patterns.py): per option.
    ("MAX_PATTERNS", _integer(0, 1000), "50"),
    ("MAX_PATTERN_LENGTH", _integer(1, 100_000), "1000"),
    # Admission control (api/admission.py); 0 turns a limit off.
    ("CLIENT_JOBS_PER_MINUTE", _integer(0, 1_000_000), "30"),
    ("CLIENT_JOBS_BURST", _integer(1, 1_000_000), "10"),
    ("TOTAL_JOBS_PER_MINUTE", _integer(0, 1_000_000), "600"),
    ("TOTAL_JOBS_BURST", _integer(1, 1_000_000), "60"),
    ("CLIENT_LIVE_JOBS", _integer(0, 1_000_000), "20"),
    ("CLIENT_PAGES_PER_HOUR", _integer(0, 1_000_000_000), "100000"),
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
    # Sitemaps (worker/sitemaps.py): files per site, bytes per file after
    # decompression, URLs per job (and never more than its max_pages).
    ("SITEMAPS_PER_SITE", _integer(1, 10_000), "20"),
    ("SITEMAP_MAX_BYTES", _integer(1024, 1024 * 1024 * 1024), str(10 * 1024 * 1024)),
    ("SITEMAP_MAX_URLS", _integer(1, 10_000_000), "50000"),
    ("CRAWL_USER_AGENT", _nonempty,
     "ImageCrawler/1.0 (+https://github.com/imagecrawler/imagecrawler)"),
    ("ALLOW_PRIVATE_NETWORKS", _flag, "0"),
    ("ALLOW_NETWORKS", _networks, ""),
    ("OBEY_ROBOTS", _flag, "1"),
    ("JOB_TTL_SECONDS", _integer(0, 10 * 365 * 86400), str(7 * 86400)),
    # Job lifecycle webhooks (api/webhooks.py); no secret: callback_url is refused.
    ("WEBHOOK_SECRET", _optional_text, ""),
    ("WEBHOOK_MAX_ATTEMPTS", _integer(1, 100), "8"),
    ("WEBHOOK_TIMEOUT", _seconds(0.1, 600), "10"),
    ("WEBHOOK_RETRY_BASE", _seconds(0, 3600), "5"),
    ("WEBHOOK_RETRY_MAX", _seconds(0, 86400), "600"),
)


@dataclass(frozen=True)
class Config:
    redis_url: str
    log_level: str
    log_format: str
    api_host: str
    api_port: int
    api_token: tuple
    api_tokens_file: str
    metrics_token: tuple
    request_header_timeout: float
    request_body_timeout: float
    api_store_timeout: float
    events_poll_seconds: float
    events_heartbeat_seconds: float
    events_max_streams: int
    zmq_tasks_bind: str
    zmq_links_bind: str
    zmq_tasks_connect: str
    zmq_links_connect: str
    zmq_keys_dir: curve.Keys | None     # the keys read from the directory
    max_request_bytes: int
    max_start_urls: int
    default_max_pages: int
    max_pages_limit: int
    max_depth_limit: int
    max_patterns: int
    max_pattern_length: int
    client_jobs_per_minute: int
    client_jobs_burst: int
    total_jobs_per_minute: int
    total_jobs_burst: int
    client_live_jobs: int
    client_pages_per_hour: int
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
    sitemaps_per_site: int
    sitemap_max_bytes: int
    sitemap_max_urls: int
    crawl_user_agent: str
    allow_private_networks: bool
    allow_networks: tuple
    obey_robots: bool
    job_ttl_seconds: int
    webhook_secret: str = field(repr=False)     # never in a log line
    webhook_max_attempts: int
    webhook_timeout: float
    webhook_retry_base: float
    webhook_retry_max: float


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
    if values["api_tokens_file"]:
        values["api_token"] += _tokens_file("API_TOKENS_FILE", values["api_tokens_file"])
    config = Config(**values)
    if config.default_max_pages > config.max_pages_limit:
        raise ConfigError("DEFAULT_MAX_PAGES must not exceed MAX_PAGES_LIMIT")
    if config.host_concurrency > config.max_host_concurrency:
        raise ConfigError("HOST_CONCURRENCY must not exceed MAX_HOST_CONCURRENCY")
    _refuse_plaintext_exposure(config)
    return config

