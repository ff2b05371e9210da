"""
The command line: argparse, the job options a crawl sends, and the exit
codes.

    0    the command succeeded (with --wait: the job completed)
    1    an error: the API unreachable, or it answered an error (its message is shown)
    2    a usage error (argparse)
    3    the job waited for was cancelled or failed
    130  interrupted (Ctrl-C); a job being waited for keeps running
"""

import argparse
import os
import sys

from client import commands
from client.api import DEFAULT_API, Api, ApiError, Unreachable, first_token
from client.output import FORMATS

EXIT_ERROR = 1
SCOPES = ("host", "domain", "any")


def _number(raw, convert, kind, lowest, above=""):
    """C{raw} as a C{convert}ed number of at least C{lowest}, or argparse's error."""
    try:
        value = convert(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {kind}{above}, not {raw!r}") from None
    if not lowest <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {raw}")
    return value


def depth(raw):
    """C{--depth 3}, or C{none} for no depth limit (JSON null)."""
    if raw.strip().lower() in ("none", "null", "unlimited"):
        return None
    return _number(raw, int, "a whole number", 0, above=" or 'none'")


def positive(raw):
    return _number(raw, int, "a whole number", 1)


def seconds(raw):
    return _number(raw, float, "a number of seconds", 0)


def api_url(raw):
    if not raw.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL, not {raw!r}")
    return raw


def _crawl_options(crawl):
    # An option not given is left out of the request (SUPPRESS), so the
    # API's defaults apply and an API without that option still answers.
    options = crawl.add_argument_group("job options (the API's defaults when left out)")
    options.argument_default = argparse.SUPPRESS
    options.add_argument("--depth", "--max-depth", dest="max_depth", type=depth, metavar="N|none",
                         help="link depth from the start pages; 'none': no limit")
    options.add_argument("--scope", choices=SCOPES, help="which links to follow (API default: host)")
    options.add_argument("--max-pages", type=positive, metavar="N", help="pages at most")
    options.add_argument("--host-concurrency", type=positive, metavar="N",
                         help="fetches in flight per site, pool-wide")
    options.add_argument("--host-delay", type=seconds, metavar="SECONDS",
                         help="seconds between two fetch starts per site")
    options.add_argument("--include", action="append", metavar="REGEX",
                         help="follow only links matching one of these (repeatable)")
    options.add_argument("--exclude", action="append", metavar="REGEX",
                         help="never follow links matching one of these (repeatable)")
    options.add_argument("--sitemaps", action="store_true",
                         help="also start from the sites' sitemaps")
    options.add_argument("--ignore-nofollow", dest="obey_nofollow", action="store_false",
                         help="follow rel=nofollow links too")
    options.add_argument("--callback-url", metavar="URL",
                         help="where the API POSTs the job's events (webhooks)")


def _add_crawl(sub, common):
    crawl = sub.add_parser("crawl", parents=[common], help="start a crawl",
                           description="Start a crawl; print its id, or with --wait its images.")
    crawl.add_argument("urls", nargs="*", metavar="URL", help="start URLs; '-' reads them from stdin")
    crawl.add_argument("-f", "--file", action="append", default=[], metavar="FILE",
                       help="read start URLs from FILE, one a line or space separated (repeatable)")
    crawl.add_argument("--wait", action="store_true",
                       help="wait for the job, showing progress on stderr, then print its images")
    crawl.add_argument("--format", choices=FORMATS, default="txt", help="with --wait (default txt)")
    _crawl_options(crawl)
    crawl.set_defaults(run=commands.crawl)


def parser(environ=None):
    environ = os.environ if environ is None else environ
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", type=api_url, default=argparse.SUPPRESS,
                        help=f"the API's address (env IMAGECRAWLER_API; default {DEFAULT_API})")
    top = argparse.ArgumentParser(
        prog="python -m client", description="Drive the image crawler's HTTP API.",
        epilog="The token, if the API wants one, comes from the environment: API_TOKEN.")
    top.add_argument("--api", type=api_url, default=environ.get("IMAGECRAWLER_API") or DEFAULT_API,
                     help="the API's address (env IMAGECRAWLER_API; default %(default)s)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_crawl(sub, common)
    for name, run, what in (("status", commands.status, "show a job"),
                            ("cancel", commands.cancel, "cancel a job")):
        one = sub.add_parser(name, parents=[common], help=what)
        one.add_argument("job", metavar="ID")
        one.set_defaults(run=run)
    for kind in ("images", "pages"):
        listing = sub.add_parser(kind, parents=[common], help=f"print every {kind[:-1]} of a job")
        listing.add_argument("job", metavar="ID")
        listing.add_argument("--format", choices=FORMATS, default="txt", help="default txt")
        listing.set_defaults(run=commands.listing, kind=kind)
    recent = sub.add_parser("list", parents=[common], help="recent jobs, newest first")
    recent.add_argument("--limit", type=positive, default=20, metavar="N", help="default 20")
    recent.set_defaults(run=commands.recent)
    return top


def main(argv=None, environ=None, stdin=None, stdout=None, stderr=None):
    environ = os.environ if environ is None else environ
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    top = parser(environ)
    args = top.parse_args(argv)
    if args.command == "crawl":
        try:
            args.urls = commands.gather_urls(args.urls, args.file, stdin)
        except OSError as e:
            top.error(f"cannot read {e.filename}: {e.strerror}")
        if not args.urls:
            top.error("crawl needs at least one URL (arguments, -f FILE or - for stdin)")
    api = Api(args.api, first_token(environ.get("API_TOKEN")))
    io = commands.Streams(stdout, stderr)
    try:
        return args.run(api, args, io)
    except (ApiError, Unreachable) as e:
        stderr.write(f"error: {e}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        stderr.write("interrupted\n")
        return commands.EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
