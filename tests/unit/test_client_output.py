"""Unit tests for what the client writes: export paths, rows, progress."""

import io

import pytest

from client import output
from client.output import LineProgress, export_path, job_row, progress_line


def job(status="running", **stats):
    return {"id": "3f2a", "status": status, "created_at": "2024-05-01T12:00:00.000Z",
            "urls": ["http://a.test/"], "stats": stats}


@pytest.mark.parametrize("fmt", output.FORMATS)
def test_exports_use_the_apis_streaming_formats(fmt):
    assert export_path("3f2a", "images", fmt) == f"/jobs/3f2a/images?format={fmt}"
    assert export_path("a/b?c", "pages", fmt) == f"/jobs/a%2Fb%3Fc/pages?format={fmt}"


def test_progress_line_counts_settled_pages():
    line = progress_line(job(pages_admitted=30, pages_crawled=10, pages_failed=2,
                             pages_skipped=1, images_found=45))
    assert line == "job 3f2a running: 13 of 30 pages, 2 failed, 45 images"
    assert progress_line(job("queued")) == "job 3f2a queued: 0 of 0 pages, 0 images"


def test_list_row():
    many = {**job("completed", pages_admitted=3, pages_crawled=3, images_found=7),
            "urls": ["http://a.test/", "http://b.test/"]}
    assert job_row(many) == "3f2a\tcompleted\t3/3\t7\t2024-05-01T12:00:00.000Z\thttp://a.test/ (+1)"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plain_progress_lines_when_changed_at_most_every_two_seconds():
    stream, clock = io.StringIO(), Clock()
    progress = LineProgress(stream, clock)
    progress.update(job(pages_admitted=1))            # first: always
    clock.now = 0.5
    progress.update(job(pages_admitted=2))            # changed, too soon
    clock.now = 2.5
    progress.update(job(pages_admitted=2))            # changed since the last line, due
    clock.now = 5.0
    progress.update(job(pages_admitted=2))            # unchanged: nothing
    clock.now = 5.1
    progress.update(job("completed", pages_admitted=2, pages_crawled=2))  # finished: always
    assert stream.getvalue().splitlines() == [
        "job 3f2a running: 0 of 1 pages, 0 images",
        "job 3f2a running: 0 of 2 pages, 0 images",
        "job 3f2a completed: 2 of 2 pages, 0 images",
    ]


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_a_pipe_gets_lines():
    assert isinstance(output.progress_for(io.StringIO()), LineProgress)
    terminal = Tty()
    bar = output.progress_for(terminal)
    assert isinstance(bar, output.BarProgress)
    bar.update(job(pages_admitted=4, pages_crawled=1, images_found=9))
    bar.close()
    assert "1/4" in terminal.getvalue() and "images=9" in terminal.getvalue()
