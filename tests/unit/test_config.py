"""Unit tests for common.config: defaults, every parser's refusals, start-up failure."""

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import zmq.auth

from common import config, curve
from common.config import SETTINGS, Config, ConfigError, from_env

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_DEFAULTS = {
    "redis_url": "redis://localhost:6379/0",
    "log_level": "info",
    "log_format": "text",
    "api_host": "0.0.0.0",
    "api_port": 8000,
    "api_token": (),
    "api_tokens_file": "",
    "metrics_token": (),
    "request_header_timeout": 10.0,
    "request_body_timeout": 30.0,
    "api_store_timeout": 2.0,
    "events_poll_seconds": 0.5,
    "events_heartbeat_seconds": 15.0,
    "events_max_streams": 200,
    "zmq_tasks_bind": "tcp://127.0.0.1:8050",
    "zmq_links_bind": "tcp://127.0.0.1:8051",
    "zmq_tasks_connect": "tcp://localhost:8050",
    "zmq_links_connect": "tcp://localhost:8051",
    "zmq_keys_dir": None,
    "max_request_bytes": 1024 * 1024,
    "max_start_urls": 1000,
    "default_max_pages": 1000,
    "max_pages_limit": 100_000,
    "max_depth_limit": 1000,
    "max_patterns": 50,
    "max_pattern_length": 1000,
    "client_jobs_per_minute": 30,
    "client_jobs_burst": 10,
    "total_jobs_per_minute": 600,
    "total_jobs_burst": 60,
    "client_live_jobs": 20,
    "client_pages_per_hour": 100_000,
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
    "sitemaps_per_site": 20,
    "sitemap_max_bytes": 10 * 1024 * 1024,
    "sitemap_max_urls": 50000,
    "crawl_user_agent": "ImageCrawler/1.0 (+https://github.com/imagecrawler/imagecrawler)",
    "allow_private_networks": False,
    "allow_networks": (),
    "obey_robots": True,
    "job_ttl_seconds": 604800,
    "webhook_secret": "",
    "webhook_max_attempts": 8,
    "webhook_timeout": 10.0,
    "webhook_retry_base": 5.0,
    "webhook_retry_max": 600.0,
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
    ("MAX_DEPTH_LIMIT", "1000001"),
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


# --- CURVE keys, and binding without them -------------------------------------------


@pytest.fixture
def keys_dir(tmp_path):
    curve.make_keys(tmp_path / "keys")
    return tmp_path / "keys"


def test_keys_dir_gives_both_pairs(keys_dir):
    keys = from_env({"ZMQ_KEYS_DIR": f" {keys_dir} "}).zmq_keys_dir
    assert (keys.api_public, keys.api_secret) == zmq.auth.load_certificate(keys_dir / "api.key_secret")
    assert keys.worker_public == zmq.auth.load_certificate(keys_dir / "worker.key")[0]
    assert keys.api_public != keys.worker_public


def test_secret_keys_stay_out_of_the_config_repr(keys_dir):
    keys = from_env({"ZMQ_KEYS_DIR": str(keys_dir)}).zmq_keys_dir
    shown = repr(from_env({"ZMQ_KEYS_DIR": str(keys_dir)}))
    assert keys.api_public.decode() in shown
    assert keys.api_secret.decode() not in shown and keys.worker_secret.decode() not in shown


@pytest.mark.parametrize("name", ["api.key", "api.key_secret", "worker.key", "worker.key_secret"])
def test_a_missing_key_file_is_named(keys_dir, name):
    (keys_dir / name).unlink()
    message = refused({"ZMQ_KEYS_DIR": str(keys_dir)})
    assert message.startswith("ZMQ_KEYS_DIR: ")
    assert str(keys_dir / name) in message and "missing" in message


def test_keys_dir_must_be_a_directory(tmp_path):
    message = refused({"ZMQ_KEYS_DIR": str(tmp_path / "nowhere")})
    assert "ZMQ_KEYS_DIR" in message and str(tmp_path / "nowhere") in message


def test_a_public_key_of_another_pair_is_refused(keys_dir):
    (keys_dir / "worker.key").write_bytes((keys_dir / "api.key").read_bytes())
    message = refused({"ZMQ_KEYS_DIR": str(keys_dir)})
    assert "worker.key is not the public half of worker.key_secret" in message


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("api.key", "not a certificate\n", "No public key found"),
    ("api.key_secret", None, "holds no CURVE secret key"),       # a public certificate
    ("worker.key_secret", 'curve\n    public-key = "x"\n    secret-key = "short"\n',
     "holds no CURVE secret key"),
])
def test_a_malformed_key_file_is_named(keys_dir, name, content, expected):
    target = keys_dir / name
    target.write_text(content if content is not None else (keys_dir / "api.key").read_text())
    message = refused({"ZMQ_KEYS_DIR": str(keys_dir)})
    assert "ZMQ_KEYS_DIR" in message and expected in message


def test_an_unreadable_key_file_is_named(keys_dir, monkeypatch):
    """Permissions would do, but root (CI) reads any file."""
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(zmq.auth, "load_certificate", denied)
    message = refused({"ZMQ_KEYS_DIR": str(keys_dir)})
    assert message == f"ZMQ_KEYS_DIR: cannot read {keys_dir / 'api.key'}: Permission denied"


@pytest.mark.parametrize("name", ["ZMQ_TASKS_BIND", "ZMQ_LINKS_BIND"])
@pytest.mark.parametrize("address", ["tcp://*:8050", "tcp://0.0.0.0:8050", "tcp://[::]:8050",
                                     "tcp://192.168.1.10:8050", "tcp://203.0.113.7:8050",
                                     "tcp://eth0:8050", "tcp://api:8050"])
def test_binding_beyond_loopback_needs_keys(name, address):
    message = refused({name: address})
    assert message.startswith(f"{name}={address} ")
    assert "ZMQ_KEYS_DIR" in message and "python -m common.curve" in message


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8050", "tcp://127.0.0.2:8050",
                                     "tcp://localhost:8050", "tcp://[::1]:8050",
                                     "ipc:///tmp/imagecrawler-tasks", "inproc://tasks"])
def test_loopback_and_local_binds_need_no_keys(address):
    c = from_env({"ZMQ_TASKS_BIND": address, "ZMQ_LINKS_BIND": address})
    assert c.zmq_tasks_bind == c.zmq_links_bind == address
    assert c.zmq_keys_dir is None


def test_with_keys_any_interface_may_be_bound(keys_dir):
    c = from_env({"ZMQ_TASKS_BIND": "tcp://*:8050", "ZMQ_LINKS_BIND": "tcp://0.0.0.0:8051",
                  "ZMQ_KEYS_DIR": str(keys_dir)})
    assert c.zmq_tasks_bind == "tcp://*:8050"


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
    assert from_env({"API_TOKEN": ""}).api_token == ()
    assert from_env({"API_TOKEN": "  "}).api_token == ()
    assert from_env({"API_TOKEN": "s3cret"}).api_token == ("s3cret",)


@pytest.mark.parametrize("raw", ["a,b", "a b", " a , b ", "a,\tb,", "a\nb"])
def test_api_token_is_a_list(raw):
    assert from_env({"API_TOKEN": raw}).api_token == ("a", "b")


@pytest.mark.parametrize("name", ["API_TOKEN", "METRICS_TOKEN"])
@pytest.mark.parametrize("raw", ["caf\u00e9", "a,b\x00c", "ok \x7f"])
def test_tokens_must_be_printable_ascii_and_are_not_echoed(name, raw):
    message = refused({name: raw})
    assert name in message and "printable ASCII" in message
    assert raw not in message and repr(raw) not in message


def test_metrics_token_is_a_list_of_its_own():
    c = from_env({"METRICS_TOKEN": "m1, m2", "API_TOKEN": "a"})
    assert (c.metrics_token, c.api_token) == (("m1", "m2"), ("a",))


def test_tokens_file_adds_to_api_token(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# callers\n\nalpha\n  beta  \n# old: gamma\n")
    c = from_env({"API_TOKENS_FILE": str(path), "API_TOKEN": "zeta"})
    assert c.api_token == ("zeta", "alpha", "beta")
    assert c.api_tokens_file == str(path)
    assert from_env({"API_TOKENS_FILE": str(path)}).api_token == ("alpha", "beta")


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read"),
    ("# nothing here\n\n", "holds no token"),
    ("good\ntwo words\n", "line 2"),
    ("good\nbad\x01\n", "line 2"),
    ("caf\u00e9\n", "cannot read"),
])
def test_bad_tokens_file_names_the_variable_and_not_the_tokens(tmp_path, content, expected):
    path = tmp_path / "tokens"
    if content is not None:
        path.write_bytes(content.encode("utf-8"))
    message = refused({"API_TOKENS_FILE": str(path)})
    assert "API_TOKENS_FILE" in message and expected in message
    assert "good" not in message and "words" not in message


@pytest.mark.parametrize("name", ["REQUEST_HEADER_TIMEOUT", "REQUEST_BODY_TIMEOUT",
                                  "API_STORE_TIMEOUT"])
@pytest.mark.parametrize("raw", ["0", "0.05", "-1", "nan", "inf", "100000"])
def test_request_timeouts_out_of_range_name_the_variable(name, raw):
    message = refused({name: raw})
    assert name in message and "must be between" in message


@pytest.mark.parametrize("name", ["REQUEST_HEADER_TIMEOUT", "REQUEST_BODY_TIMEOUT",
                                  "API_STORE_TIMEOUT"])
def test_request_timeouts_take_fractions(name):
    assert getattr(from_env({name: "0.5"}), name.lower()) == 0.5


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


@pytest.mark.parametrize("module", ["api", "worker"])
def test_process_with_a_missing_key_file_exits_2_naming_it(module, keys_dir):
    (keys_dir / "api.key_secret").unlink()
    result = run_module(module, ZMQ_KEYS_DIR=str(keys_dir))
    assert result.returncode == 2, result.stderr
    assert f"{module}: configuration error: ZMQ_KEYS_DIR: " in result.stderr
    assert str(keys_dir / "api.key_secret") in result.stderr
    assert "Traceback" not in result.stderr


def test_api_exposed_without_keys_exits_2_saying_why():
    result = run_module("api", ZMQ_TASKS_BIND="tcp://*:8050")
    assert result.returncode == 2, result.stderr
    assert "api: configuration error: ZMQ_TASKS_BIND=tcp://*:8050 " in result.stderr
    assert "ZMQ_KEYS_DIR" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", [s[0] for s in SETTINGS])
def test_every_setting_is_documented_in_the_readme(name):
    assert f"``{name}``" in (ROOT / "README.rst").read_text(), f"README.rst does not document {name}"


# Settings the compose file leaves out on purpose (docs/containers.rst says why).
NOT_IN_COMPOSE = {"WORKER_ID", "WORKER_HEARTBEAT_FILE", "API_TOKENS_FILE"}


@pytest.mark.parametrize("name", [s[0] for s in SETTINGS if s[0] not in NOT_IN_COMPOSE])
def test_every_setting_reaches_the_containers(name):
    assert f"{name}:" in (ROOT / "fig.yml").read_text(), f"fig.yml does not pass {name} through"
