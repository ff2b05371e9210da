"""
The HTTP API as the client sees it: JSON in and out, a bearer token, and
errors turned into exceptions that carry the API's own message.

Only the stdlib (C{urllib.request}), so that the client needs nothing
installed beyond Python (tqdm is optional, for the progress bar).
"""

import json
import urllib.error
import urllib.request

DEFAULT_API = "http://localhost:8000"
TIMEOUT = 30
_STREAM_CHUNK = 64 * 1024
_USER_AGENT = "imagecrawler-client/1.0"


class ApiError(Exception):
    """The API answered with an error status."""

    def __init__(self, status, code, message):
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self):
        return f"HTTP {self.status} {self.code}: {self.message}"


class Unreachable(Exception):
    """No answer at all: a wrong address, the API down, a timeout."""


def first_token(raw):
    """
    The token to send from C{API_TOKEN}: the server takes a list (comma or
    space separated, old and new while clients change over), a client
    sends one, the first.
    """
    tokens = (raw or "").replace(",", " ").split()
    return tokens[0] if tokens else None


def error_from(status, raw):
    """
    An L{ApiError} from an error answer: the API's C{{"error": {"code",
    "message"}}} when it sent one, else the start of whatever came (a
    proxy's HTML page, say).
    """
    try:
        error = json.loads(raw)["error"]
        return ApiError(status, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        text = raw.decode("utf-8", "replace").strip()
        return ApiError(status, "http_error", text[:200] or "no message")


class Api:
    """One API at C{base}, e.g. C{http://localhost:8000}."""

    def __init__(self, base, token=None, timeout=TIMEOUT, urlopen=urllib.request.urlopen):
        self.base = base.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._urlopen = urlopen

    def json(self, method, path, body=None):
        """C{method path} with an optional JSON C{body}; the decoded answer."""
        with self._open(method, path, body) as response:
            return json.loads(response.read())

    def copy(self, path, out):
        """Copy the body of C{GET path} to the binary stream C{out} as it comes."""
        with self._open("GET", path) as response:
            while chunk := response.read(_STREAM_CHUNK):
                out.write(chunk)
                out.flush()

    def items(self, path, key, limit=None):
        """
        The C{key} items of a paginated listing (C{/jobs}), following its
        C{next} links, at most C{limit} of them.
        """
        count = 0
        while path:
            answer = self.json("GET", path)
            for item in answer[key]:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield item
            path = answer.get("next")

    def _open(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", _USER_AGENT)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            return self._urlopen(request, timeout=self._timeout)
        except urllib.error.HTTPError as e:
            with e:
                raise error_from(e.code, e.read()) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Unreachable(f"cannot reach the API at {self.base}: {reason}") from None
