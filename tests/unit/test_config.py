"""Unit tests for common.config: defaults, every parser's refusals, start-up failure."""

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common import config
from common.config import SETTINGS, Config, ConfigError, from_env

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_DEFAULTS = {
    "redis_url": "redis://localhost:6379/0",
    "log_level": "info",
    "api_host": "0.0.0.0",
    "api_port": 8000,
    "api_token": "",
    "zmq_tasks_bind": "tcp://*:8050",
    "zmq_links_bind": "tcp://*:8051",
    "zmq_tasks_connect": "tcp://localhost:8050",
    "zmq_links_connect": "tcp://localhost:8051",
    "max_request_bytes": 1024 * 1024,
    "max_start_urls": 1000,
    "default_max_pages": 1000,
    "max_pages_limit": 100_000,
    "max_depth_limit": 10,
    "lease_seconds": 60.0,
    "max_attempts": 3,
    "reap_interval": 1.0,
    "worker_concurrency": 16,
    "heartbeat_seconds": 2.0,
    "worker_heartbeat_file": "/tmp/imagecrawler-worker.alive",
    "drain_seconds": 20.0,
    "fetch_timeout": 20.0,
    "max_body_bytes": 5 * 1024 * 1024,
    "max_redirects": 5,
    "host_concurrency": 4,
    "max_host_concurrency": 32,
    "host_delay_seconds": 0.0,
    "max_crawl_delay": 30.0,
    "retry_base_seconds": 1.0,
    "retry_max_seconds": 60.0,
    "max_retry_after": 120.0,
    "parse_processes": 1,
    "parse_timeout": 10.0,
    "max_found_on": 100,
    "max_urls_per_page": 10000,
    "crawl_user_agent": "ImageCrawler/1.0 (+https://github.com/imagecrawler/imagecrawler)",
    "allow_private_networks": False,
    "obey_robots": True,
    "job_ttl_seconds": 604800,
}


# --- defaults -----------------------------------------------------------------


def test_empty_environment_gives_every_default():
    values = dataclasses.asdict(from_env({}))
    worker_id = values.pop("worker_id")
    assert values == EXPECTED_DEFAULTS
    assert worker_id == f"{socket.gethostname()}-{os.getpid()}"


@pytest.mark.parametrize("name", sorted(EXPECTED_DEFAULTS))
def test_each_default_has_its_type(name):
    value = getattr(from_env({}), name)
    assert type(value) is type(EXPECTED_DEFAULTS[name])


def test_host_concurrency_may_not_exceed_its_ceiling():
    message = refused({"HOST_CONCURRENCY": "8", "MAX_HOST_CONCURRENCY": "4"})
    assert "HOST_CONCURRENCY" in message and "MAX_HOST_CONCURRENCY" in message


def test_settings_table_and_config_fields_stay_in_step():
    names = [name for name, _, _ in SETTINGS]
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert [name.lower() for name in names] == [f.name for f in dataclasses.fields(Config)]
    assert all(name == name.upper() for name in names)


@pytest.mark.parametrize(("name", "parse", "default"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_each_default_passes_its_own_parser(name, parse, default):
    if name == "WORKER_ID":  # empty means "derive one", handled by from_env
        assert default == ""
        return
    parse(name, default)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        from_env({}).api_port = 1


def test_from_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("API_PORT", "8123")
    assert from_env().api_port == 8123


def test_values_from_the_environment_are_parsed():
    c = from_env({
        "API_PORT": "9000", "LEASE_SECONDS": "2.5", "ALLOW_PRIVATE_NETWORKS": "yes",
        "LOG_LEVEL": " DEBUG ", "WORKER_ID": "w1", "API_HOST": " ::1 ",
        "REDIS_URL": "redis://:secret@redis:6380/2", "ZMQ_TASKS_BIND": "ipc:///tmp/t",
    })
    assert c.api_port == 9000
    assert c.lease_seconds == 2.5
    assert c.allow_private_networks is True
    assert c.log_level == "debug"
    assert c.worker_id == "w1"
    assert c.api_host == "::1"
    assert c.redis_url == "redis://:secret@redis:6380/2"
    assert c.zmq_tasks_bind == "ipc:///tmp/t"


def test_an_explicit_empty_worker_id_derives_one():
    assert from_env({"WORKER_ID": ""}).worker_id == f"{socket.gethostname()}-{os.getpid()}"


# --- refusals -------------------------------------------------------------------


def refused(environ):
    with pytest.raises(ConfigError) as info:
        from_env(environ)
    return str(info.value)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(("name", "raw"), [
    ("API_PORT", "http"),
    ("API_PORT", "80.5"),
    ("API_PORT", ""),
    ("API_PORT", "0x50"),
    ("WORKER_CONCURRENCY", "many"),
    ("MAX_ATTEMPTS", "3 tries"),
    ("MAX_BODY_BYTES", "5MB"),
])
def test_bad_integer_names_the_variable(name, raw):
    message = refused({name: raw})
    assert name in message
    assert "must be an integer" in message
    assert repr(raw) in message


@pytest.mark.parametrize(("name", "raw"), [
    ("API_PORT", "-1"),
    ("API_PORT", "65536"),
    ("WORKER_CONCURRENCY", "0"),
    ("WORKER_CONCURRENCY", "1025"),
    ("MAX_REQUEST_BYTES", "1023"),
    ("MAX_DEPTH_LIMIT", "101"),
    ("MAX_ATTEMPTS", "0"),
    ("MAX_REDIRECTS", "51"),
    ("MAX_FOUND_ON", "0"),
    ("HOST_CONCURRENCY", "0"),
    ("PARSE_PROCESSES", "0"),
    ("MAX_START_URLS", "100001"),
])
def test_integer_out_of_range_names_the_variable(name, raw):
    message = refused({name: raw})
    assert name in message
    assert "must be between" in message


@pytest.mark.parametrize(("name", "raw"), [("API_PORT", "0"), ("API_PORT", "65535"),
                                          ("MAX_DEPTH_LIMIT", "0"), ("MAX_REDIRECTS", "0")])
def test_integer_range_bounds_are_inclusive(name, raw):
    assert getattr(from_env({name: raw}), name.lower()) == int(raw)


@pytest.mark.parametrize(("name", "raw"), [
    ("LEASE_SECONDS", "a minute"),
    ("FETCH_TIMEOUT", ""),
    ("DRAIN_SECONDS", "20s"),
])
def test_bad_seconds_names_the_variable(name, raw):
    message = refused({name: raw})
    assert name in message
    assert "must be a number of seconds" in message


@pytest.mark.parametrize(("name", "raw"), [
    ("LEASE_SECONDS", "0.5"),
    ("LEASE_SECONDS", "3601"),
    ("REAP_INTERVAL", "0.01"),
    ("HEARTBEAT_SECONDS", "0"),
    ("DRAIN_SECONDS", "-1"),
    ("FETCH_TIMEOUT", "inf"),
    ("FETCH_TIMEOUT", "nan"),
])
def test_seconds_out_of_range_names_the_variable(name, raw):
    message = refused({name: raw})
    assert name in message
    assert "must be between" in message


def test_drain_seconds_may_be_zero():
    assert from_env({"DRAIN_SECONDS": "0"}).drain_seconds == 0.0


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("YES", True), (" on ", True), ("True", True),
    ("0", False), ("false", False), ("No", False), ("off", False), ("", False),
])
def test_flag_values(raw, expected):
    assert from_env({"ALLOW_PRIVATE_NETWORKS": raw}).allow_private_networks is expected


@pytest.mark.parametrize("raw", ["2", "y", "enabled", "tru", "-1"])
def test_bad_flag_names_the_variable(raw):
    message = refused({"ALLOW_PRIVATE_NETWORKS": raw})
    assert "ALLOW_PRIVATE_NETWORKS" in message
    assert repr(raw) in message


@pytest.mark.parametrize("raw", [
    "localhost:6379",
    "http://localhost:6379/0",
    "redis://",
    "redis:///0",
    "redis://localhost:port/0",
    "redis://localhost:6379/zero",
    "redis://localhost:99999/0",
    "",
])
def test_bad_redis_url_names_the_variable(raw):
    assert "REDIS_URL" in refused({"REDIS_URL": raw})


@pytest.mark.parametrize("raw", [
    "redis://localhost", "redis://redis:6379", "redis://127.0.0.1:6380/15",
    "redis://user:pw@[::1]:6379/1",
])
def test_good_redis_urls(raw):
    assert from_env({"REDIS_URL": raw}).redis_url == raw


@pytest.mark.parametrize("name", ["ZMQ_TASKS_BIND", "ZMQ_LINKS_BIND",
                                  "ZMQ_TASKS_CONNECT", "ZMQ_LINKS_CONNECT"])
@pytest.mark.parametrize("raw", ["api:8050", "http://api:8050", "", "udp://api:8050"])
def test_bad_zmq_address_names_the_variable(name, raw):
    message = refused({name: raw})
    assert name in message
    assert "ZeroMQ address" in message


@pytest.mark.parametrize("raw", ["verbose", "warning", "", "trace", "0"])
def test_bad_log_level_names_the_variable(raw):
    message = refused({"LOG_LEVEL": raw})
    assert "LOG_LEVEL" in message
    assert repr(raw) in message


@pytest.mark.parametrize("raw", ["debug", "info", "warn", "error", "critical", "ERROR"])
def test_log_levels_accepted(raw):
    assert from_env({"LOG_LEVEL": raw}).log_level == raw.lower()


@pytest.mark.parametrize("name", ["API_HOST", "CRAWL_USER_AGENT", "WORKER_HEARTBEAT_FILE"])
@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_required_text_names_the_variable(name, raw):
    assert name in refused({name: raw})


def test_blank_worker_id_is_refused():
    assert "WORKER_ID" in refused({"WORKER_ID": "   "})


def test_api_token_may_be_empty():
    assert from_env({"API_TOKEN": ""}).api_token == ""
    assert from_env({"API_TOKEN": "s3cret"}).api_token == "s3cret"


def test_api_token_with_surrounding_space_is_trimmed_or_refused():
    try:
        token = from_env({"API_TOKEN": "s3cret "}).api_token
    except ConfigError as e:
        assert "API_TOKEN" in str(e)
        return
    assert token == "s3cret"


@pytest.mark.parametrize("raw", ["unix://", "unix:///2", "unix:///var/run/redis.sock",
                                 "rediss://redis:6379/0"])
def test_redis_url_must_be_redis_over_tcp(raw):
    # store.connect() only speaks TCP: a unix socket URL must not be taken
    # for localhost:6379
    assert "REDIS_URL" in refused({"REDIS_URL": raw})


def test_default_max_pages_may_not_exceed_the_limit():
    message = refused({"DEFAULT_MAX_PAGES": "500", "MAX_PAGES_LIMIT": "100"})
    assert "DEFAULT_MAX_PAGES" in message
    assert "MAX_PAGES_LIMIT" in message
    c = from_env({"DEFAULT_MAX_PAGES": "100", "MAX_PAGES_LIMIT": "100"})
    assert c.default_max_pages == c.max_pages_limit == 100


def test_the_first_bad_variable_in_table_order_is_named():
    message = refused({"ALLOW_PRIVATE_NETWORKS": "maybe", "REDIS_URL": "nope"})
    assert "REDIS_URL" in message
    assert "ALLOW_PRIVATE_NETWORKS" not in message


def test_every_parser_raises_config_error_only():
    """No parser lets a bare ValueError (or anything else) escape."""
    for name, parse, _ in SETTINGS:
        for raw in ("", " ", "x", "-1", "1e999", "\x00", "tcp://", "redis://:x"):
            try:
                parse(name, raw)
            except ConfigError as e:
                assert name in str(e)


def test_default_worker_id_is_host_and_pid():
    assert config._default_worker_id() == f"{socket.gethostname()}-{os.getpid()}"


# --- the processes refuse to start -------------------------------------------------


def run_module(module, **bad):
    env = {k: v for k, v in os.environ.items() if k not in {s[0] for s in SETTINGS}}
    env.update(bad)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("module", ["api", "worker"])
@pytest.mark.parametrize(("name", "raw"), [
    ("API_PORT", "eighty"),
    ("REDIS_URL", "localhost"),
])
def test_process_with_a_bad_variable_exits_2_naming_it(module, name, raw):
    result = run_module(module, **{name: raw})
    assert result.returncode == 2, result.stderr
    assert f"{module}: configuration error:" in result.stderr
    assert name in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", [s[0] for s in SETTINGS])
def test_every_setting_is_documented_in_the_readme(name):
    assert f"``{name}``" in (ROOT / "README.rst").read_text(), f"README.rst does not document {name}"
