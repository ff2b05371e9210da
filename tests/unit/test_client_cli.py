"""Unit tests for the command-line client's pure parts: arguments, the job
body, URLs from files and stdin, the token, error messages, polling."""

import ast
import io
from pathlib import Path

import pytest

from client import cli, commands
from client.api import ApiError, Unreachable, error_from, first_token
from client.wait import TOLERATED_FAILURES, delays, wait_job

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv, environ=None):
    return cli.parser(environ or {}).parse_args(list(argv))


def body(*argv):
    args = parse("crawl", *argv)
    args.urls = commands.gather_urls(args.urls, args.file, io.StringIO())
    return commands.job_body(args)


def test_options_not_given_are_left_to_the_api():
    assert body("http://a.test/") == {"urls": ["http://a.test/"]}


def test_every_job_option_is_passed_through():
    assert body("http://a.test/", "http://b.test/", "--depth", "3", "--scope", "domain",
                "--max-pages", "50", "--host-concurrency", "2", "--host-delay", "0.5",
                "--include", "/blog/", "--include", "/news/", "--exclude", "/tag/",
                "--sitemaps", "--ignore-nofollow", "--callback-url", "http://hook.test/") == {
        "urls": ["http://a.test/", "http://b.test/"], "max_depth": 3, "scope": "domain",
        "max_pages": 50, "host_concurrency": 2, "host_delay": 0.5,
        "include": ["/blog/", "/news/"], "exclude": ["/tag/"], "sitemaps": True,
        "obey_nofollow": False, "callback_url": "http://hook.test/"}


@pytest.mark.parametrize("raw", ["none", "None", "unlimited", "null"])
def test_depth_none_is_json_null(raw):
    assert body("http://a.test/", "--depth", raw)["max_depth"] is None


@pytest.mark.parametrize("argv", [
    ["crawl", "http://a.test/", "--depth", "-1"],
    ["crawl", "http://a.test/", "--depth", "deep"],
    ["crawl", "http://a.test/", "--max-pages", "0"],
    ["crawl", "http://a.test/", "--scope", "planet"],
    ["crawl", "http://a.test/", "--format", "xml"],
    ["crawl", "http://a.test/", "--host-delay", "nan"],
    ["status"],
    ["frobnicate"],
    ["--api", "localhost:8000", "list"],
    [],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_crawl_without_urls_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["crawl"], environ={}, stdin=io.StringIO(""))
    assert info.value.code == 2
    assert "at least one URL" in capsys.readouterr().err


def test_a_missing_url_file_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["crawl", "-f", str(tmp_path / "nope.txt")], environ={})
    assert info.value.code == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_api_address_comes_from_flag_env_or_default():
    assert parse("list").api == "http://localhost:8000"
    assert parse("list", environ={"IMAGECRAWLER_API": "http://h.test:9"}).api == "http://h.test:9"
    env = {"IMAGECRAWLER_API": "http://h.test:9"}
    assert parse("--api", "http://x.test", "list", environ=env).api == "http://x.test"
    assert parse("list", "--api", "http://y.test", environ=env).api == "http://y.test"


def test_urls_from_arguments_files_and_stdin(tmp_path):
    listed = tmp_path / "urls.txt"
    listed.write_text("# start here\nhttp://f.test/1  http://f.test/2\n\n  http://f.test/3\n")
    stdin = io.StringIO("http://s.test/1\nhttp://s.test/2\n")
    assert commands.gather_urls(["http://a.test/", "-"], [str(listed)], stdin) == [
        "http://a.test/", "http://s.test/1", "http://s.test/2",
        "http://f.test/1", "http://f.test/2", "http://f.test/3"]
    assert commands.gather_urls([], ["-"], io.StringIO("http://s.test/")) == ["http://s.test/"]


@pytest.mark.parametrize(("raw", "token"), [
    (None, None), ("", None), ("  ", None), ("abc", "abc"),
    ("new,old", "new"), (" new  old ", "new"), (",new", "new")])
def test_the_first_token_of_the_list_is_sent(raw, token):
    assert first_token(raw) == token


def test_the_apis_error_message_is_kept():
    error = error_from(404, b'{"error": {"code": "no_such_job", "message": "no job with id \'x\'"}}')
    assert (error.status, error.code, error.message) == (404, "no_such_job", "no job with id 'x'")
    assert str(error) == "HTTP 404 no_such_job: no job with id 'x'"


@pytest.mark.parametrize(("raw", "message"), [
    (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    (b"", "no message"),
    (b'{"error": "flat"}', '{"error": "flat"}'),
    (b"\xff" * 500, "\ufffd" * 200),
])
def test_an_error_that_is_not_the_apis_shape_is_shown_as_text(raw, message):
    error = error_from(502, raw)
    assert (error.code, error.message) == ("http_error", message)


def test_polling_backs_off_to_two_seconds():
    schedule = delays()
    assert [round(next(schedule), 4) for _ in range(7)] == [0.5, 0.75, 1.125, 1.6875, 2.0, 2.0, 2.0]


class Answers:
    """An API stub answering C{json()} from a list, for the polling loop only."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def json(self, method, path, body=None):
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Seen:
    def __init__(self):
        self.jobs = []

    def update(self, job):
        self.jobs.append(job["status"])


def job(status):
    return {"id": "j1", "status": status, "stats": {}}


def test_wait_polls_until_the_job_is_finished_riding_out_an_outage():
    sleeps, progress = [], Seen()
    api = Answers(job("queued"), Unreachable("down"), ApiError(503, "unavailable", "later"),
                  job("running"), job("completed"))
    done = wait_job(api, "j1", progress, sleep=sleeps.append, err=io.StringIO())
    assert done["status"] == "completed"
    assert progress.jobs == ["queued", "running", "completed"]
    assert len(sleeps) == 4 and all(0.5 <= s <= 2 for s in sleeps)


def test_wait_gives_up_on_a_client_error_or_a_long_outage():
    with pytest.raises(ApiError):
        wait_job(Answers(ApiError(404, "no_such_job", "gone")), "j1", Seen(), sleep=lambda s: None)
    outage = Answers(*[Unreachable("down")] * (TOLERATED_FAILURES + 1))
    with pytest.raises(Unreachable):
        wait_job(outage, "j1", Seen(), sleep=lambda s: None, err=io.StringIO())
    assert outage.calls == TOLERATED_FAILURES + 1


def test_the_client_imports_nothing_of_the_servers():
    """It must run on its own against any deployment."""
    for path in (ROOT / "client").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("api", "worker", "common", "tests"), (path, name)
