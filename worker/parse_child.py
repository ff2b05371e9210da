"""
C{python -m worker.parse_child}: one parser process of L{worker.parsing.ParserPool}.

It parses outside the worker's reactor so that a 5 MiB page cannot stop
its heartbeats, a worker can use more than one core, and a page that
crashes or hangs the parser takes down only this process.

The wire, on binary stdin and stdout, is a sequence of frames::

    header length, payload length (two unsigned 32-bit big-endian ints)
    header (UTF-8 JSON object)
    payload (raw bytes)

The child says C{{"ready": true}} once its imports are done, so the pool
charges no start-up time to a page; then, for each request
C{{"url", "content_type", "cap"}} + the page body, it answers
C{{"parsed": {...}}} (the fields of L{worker.parsing.Parsed}) or
C{{"error": "TypeName: message"}}.  It exits at EOF on stdin.

What a child computes and how it travels live here, and the pool imports
them from here (L{worker.parsing} re-exports L{Parsed} and L{summarize}):
so the child imports no Twisted at all, which keeps its start-up short.
The framing functions are pure, for both sides and for the tests.
"""

import json
import signal
import struct
import sys
from dataclasses import dataclass, field
from itertools import islice

from worker.decoding import decode_html
from worker.extract import Page, extract

_LENGTHS = struct.Struct(">II")
PREFIX_BYTES = _LENGTHS.size
_MAX_ERROR = 500


@dataclass(frozen=True)
class Parsed:
    """
    A page's images and links, capped: what the crawler records.

    C{images} are C{[url, [kinds], alt]}, or C{[url, [kinds]]} without alt
    text, in document order; C{links} the followable URLs in document
    order; C{nofollow} the links the page asks crawlers not to follow
    (C{rel=nofollow}, or all of them under a robots C{nofollow} meta), in
    document order, for a job that does not obey it.  The counts are of
    everything found, before the cap (C{link_count} of both lists), and
    C{capped} says whether any list was cut.  Plain lists, because they
    cross the pipe as JSON and go on to Redis as JSON.
    """

    images: list
    links: list
    image_count: int
    link_count: int
    capped: bool
    nofollow: list = field(default_factory=list)


def summarize(found: Page, cap: int) -> Parsed:
    """
    The first C{cap} images, followable links and nofollow links of
    C{found}.  The cap bounds what one page can cost downstream (its reply,
    its Redis record); links are cut before the crawler filters them by
    scope.
    """
    images = [
        [url, list(image.kinds), image.alt] if image.alt else [url, list(image.kinds)]
        for url, image in islice(found.images.items(), cap)
    ]
    capped = max(len(found.images), len(found.links), len(found.nofollow)) > cap
    return Parsed(images, found.links[:cap], len(found.images),
                  len(found.links) + len(found.nofollow), capped, found.nofollow[:cap])


class FrameError(ValueError):
    """Bytes that are not a frame: the other side is broken or not ours."""


def encode_frame(header: dict, payload: bytes = b"") -> bytes:
    """One frame: a JSON header and raw payload bytes, each length-prefixed."""
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return _LENGTHS.pack(len(head), len(payload)) + head + payload


def frame_lengths(prefix: bytes) -> tuple[int, int]:
    """The header and payload lengths a frame's first L{PREFIX_BYTES} announce."""
    return _LENGTHS.unpack(prefix)


def decode_header(raw: bytes) -> dict:
    """A frame's header; anything but a JSON object is a L{FrameError}."""
    try:
        header = json.loads(raw)
    except ValueError as e:
        raise FrameError(f"bad frame header: {e}") from None
    if not isinstance(header, dict):
        raise FrameError(f"frame header is a {type(header).__name__}, not an object")
    return header


def decode_frame(data: bytes | bytearray) -> tuple[dict, bytes, int] | None:
    """
    The first frame in C{data}: C{(header, payload, bytes used)}, or C{None}
    while C{data} holds only part of it (the caller keeps reading).
    """
    if len(data) < PREFIX_BYTES:
        return None
    head, size = frame_lengths(bytes(data[:PREFIX_BYTES]))
    end = PREFIX_BYTES + head + size
    if len(data) < end:
        return None
    header = decode_header(bytes(data[PREFIX_BYTES:PREFIX_BYTES + head]))
    return header, bytes(data[PREFIX_BYTES + head:end]), end


def read_frame(stream) -> tuple[dict, bytes] | None:
    """The next frame from a binary stream; C{None} at EOF between frames."""
    prefix = stream.read(PREFIX_BYTES)
    if not prefix:
        return None
    if len(prefix) < PREFIX_BYTES:
        raise FrameError("stream ended inside a frame prefix")
    head, size = frame_lengths(prefix)
    raw, payload = stream.read(head), stream.read(size)
    if len(raw) < head or len(payload) < size:
        raise FrameError("stream ended inside a frame")
    return decode_header(raw), payload


def answer(header: dict, body: bytes) -> dict:
    """The reply to one request; a parser exception is the reply, not the end."""
    try:
        found = extract(decode_html(body, header["content_type"]), header["url"])
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"[:_MAX_ERROR]}
    return {"parsed": vars(summarize(found, header["cap"]))}


def serve(stdin, stdout) -> None:
    """Say ready, then answer requests one by one until EOF."""
    stdout.write(encode_frame({"ready": True}))
    stdout.flush()
    while (frame := read_frame(stdin)) is not None:
        stdout.write(encode_frame(answer(*frame)))
        stdout.flush()


def main() -> None:
    """Binary stdio; Ctrl-C on the terminal is for the worker, which ends this
    process by closing its stdin; a stray print() goes to stderr, never into
    the replies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    serve(stdin, stdout)


if __name__ == "__main__":
    main()
