"""
The subcommands: each takes the L{Api}, the parsed arguments and the
output streams, and returns the exit status (errors are raised as
L{client.api.ApiError} or L{client.api.Unreachable}; L{client.cli} turns
them into exit status 1).
"""

from dataclasses import dataclass

from client.output import export_path, job_path, job_row, pretty, progress_for
from client.wait import wait_job

EXIT_OK = 0
EXIT_JOB_NOT_COMPLETED = 3
EXIT_INTERRUPTED = 130
# The job options a crawl passes through, as the API names them; the
# parser leaves out those not given, so the API's defaults apply.
JOB_OPTIONS = ("max_depth", "scope", "max_pages", "host_concurrency", "host_delay",
               "include", "exclude", "sitemaps", "obey_nofollow", "callback_url")
LISTING_PAGE = 100


@dataclass
class Streams:
    out: object
    err: object

    @property
    def binary_out(self):
        """Where exports are copied as they come: stdout's bytes."""
        return getattr(self.out, "buffer", None) or _TextSink(self.out)


class _TextSink:
    """Bytes written to a text stream (one without C{.buffer}, as in tests)."""

    def __init__(self, text):
        self._text = text

    def write(self, data):
        self._text.write(data.decode("utf-8"))

    def flush(self):
        self._text.flush()


def words(text):
    """URLs in a file's text: white space separated; lines starting with C{#} skipped."""
    return [word for line in text.splitlines() if not line.lstrip().startswith("#")
            for word in line.split()]


def gather_urls(arguments, files, stdin):
    """The start URLs from the command line, C{-f} files, and stdin for C{-}."""
    urls = []
    for argument in arguments:
        urls.extend(words(stdin.read()) if argument == "-" else [argument])
    for name in files:
        if name == "-":
            urls.extend(words(stdin.read()))
            continue
        with open(name, encoding="utf-8") as f:
            urls.extend(words(f.read()))
    return urls


def job_body(args):
    """The JSON body of C{POST /jobs}: the URLs and the options given."""
    return {"urls": args.urls,
            **{name: getattr(args, name) for name in JOB_OPTIONS if hasattr(args, name)}}


def crawl(api, args, io):
    job = api.json("POST", "/jobs", job_body(args))
    if not args.wait:
        io.out.write(job["id"] + "\n")
        return EXIT_OK
    return wait_and_print(api, job["id"], args.format, io)


def wait_and_print(api, job_id, fmt, io):
    """Wait with progress on stderr, then copy the images to stdout."""
    progress = None
    try:
        io.err.write(f"job {job_id} created; waiting for it (Ctrl-C stops the waiting, not the job)\n")
        io.err.flush()
        progress = progress_for(io.err)
        job = wait_job(api, job_id, progress, err=io.err)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        io.err.write(f"\nstopped waiting; job {job_id} keeps running: "
                     f"python -m client status {job_id} (or cancel {job_id})\n")
        return EXIT_INTERRUPTED
    progress.close()
    io.out.flush()
    api.copy(export_path(job_id, "images", fmt), io.binary_out)
    if job["status"] != "completed":
        io.err.write(f"job {job_id} was {job['status']}\n")
        return EXIT_JOB_NOT_COMPLETED
    return EXIT_OK


def status(api, args, io):
    io.out.write(pretty(api.json("GET", job_path(args.job))) + "\n")
    return EXIT_OK


def cancel(api, args, io):
    job = api.json("DELETE", job_path(args.job))
    io.out.write(f"job {job['id']} {job['status']}\n")
    return EXIT_OK


def listing(api, args, io):
    io.out.flush()
    api.copy(export_path(args.job, args.kind, args.format), io.binary_out)
    return EXIT_OK


def recent(api, args, io):
    page = min(args.limit, LISTING_PAGE)
    for job in api.items(f"/jobs?limit={page}", "jobs", args.limit):
        io.out.write(job_row(job) + "\n")
    return EXIT_OK
