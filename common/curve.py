"""
CURVE keys for the wire between the API and its workers.

ZeroMQ's CURVE (RFC 26) encrypts every connection and proves who holds
which key.  The API is the CURVE server on both of its sockets and lets in
only peers holding the workers' secret key (the ZAP handler in
L{common.wire}): reaching the ports, or knowing the API's public key, is
not enough to take a task or send a notice.

One directory holds both key pairs, in zmq.auth's certificate format (what
pyzmq and czmq read and write)::

    api.key     api.key_secret        the API's pair
    worker.key  worker.key_secret     the pair every worker uses

C{python -m common.curve DIR} makes the pairs DIR lacks (L{make_keys}).
Every process reads all four files at start (L{load}), so that one
directory serves both kinds and a missing, unreadable or mismatched file
stops either one naming it, instead of a worker that silently never gets a
task.  A worker thus holds the API's secret too; that gives it no more
than the Redis URL every worker holds already, which is the whole job store.
"""

import argparse
import ipaddress
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import zmq
import zmq.auth

API, WORKER = "api", "worker"
PUBLIC, SECRET = ".key", ".key_secret"


class KeyFileError(ValueError):
    """A key file is missing, unreadable, malformed or not its pair's."""


@dataclass(frozen=True)
class Keys:
    """Both key pairs, in z85 text as the files hold them."""

    api_public: bytes
    api_secret: bytes = field(repr=False)
    worker_public: bytes
    worker_secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Server:
    """A CURVE server socket's side: its secret, and the client keys it lets in."""

    secret: bytes = field(repr=False)
    clients: frozenset


@dataclass(frozen=True)
class Client:
    """A CURVE client socket's side: its own pair, and the server it trusts."""

    public: bytes
    secret: bytes = field(repr=False)
    server: bytes


def server_keys(keys):
    """The API's side of the wire, or None (plaintext) without keys."""
    if keys is None:
        return None
    return Server(keys.api_secret, frozenset({keys.worker_public}))


def client_keys(keys):
    """A worker's side of the wire, or None (plaintext) without keys."""
    if keys is None:
        return None
    return Client(keys.worker_public, keys.worker_secret, keys.api_public)


def load(directory):
    """
    Both key pairs from C{directory}.

    @raise KeyFileError: naming the directory or the first bad file.
    """
    path = Path(directory)
    if not path.is_dir():
        raise KeyFileError(f"{directory} is not a directory (python -m common.curve DIR makes one)")
    return Keys(*_pair(path, API), *_pair(path, WORKER))


def _pair(directory, name):
    public, _ = _certificate(directory / (name + PUBLIC))
    _, secret = _certificate(directory / (name + SECRET))
    try:
        derived = zmq.curve_public(secret or b"")
    except ValueError:
        raise KeyFileError(f"{directory / (name + SECRET)} holds no CURVE secret key") from None
    if derived != public:
        raise KeyFileError(f"{directory / (name + PUBLIC)} is not the public half of {name + SECRET}")
    return public, secret


def _certificate(path):
    if not path.is_file():
        raise KeyFileError(f"{path} is missing (python -m common.curve DIR makes it)")
    try:
        return zmq.auth.load_certificate(path)
    except OSError as e:
        raise KeyFileError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise KeyFileError(str(e)) from None


def make_keys(directory):
    """
    Make in C{directory} (created private if missing) each key pair it
    lacks, and return their names.  A pair already there is kept: running
    processes hold it.  Each pair is written in a private scratch directory,
    its secret made owner-only, then moved in: no secret is readable by
    others even for a moment, and no half-made pair is left where the
    processes look.
    """
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    missing = [name for name in (API, WORKER)
               if not all((directory / (name + end)).is_file() for end in (PUBLIC, SECRET))]
    for name in missing:
        with tempfile.TemporaryDirectory(dir=directory) as scratch:
            public, secret = zmq.auth.create_certificates(scratch, name)
            os.chmod(secret, 0o600)
            os.replace(secret, directory / (name + SECRET))
            os.replace(public, directory / (name + PUBLIC))
    return missing


def reachable_from_outside(address):
    """
    Whether binding C{address} lets other machines connect: TCP on
    anything but a loopback address (C{*}, C{0.0.0.0}, an interface name,
    any other address).  ipc and inproc stay on this machine.
    """
    if not address.startswith("tcp://"):
        return False
    host = address[len("tcp://"):].rpartition(":")[0].strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def main(argv=None):
    """C{python -m common.curve DIR}: make the keys DIR lacks."""
    parser = argparse.ArgumentParser(
        prog="python -m common.curve",
        description="Make the CURVE key pairs of the API and the workers in DIR "
                    "(ZMQ_KEYS_DIR), keeping any already there.")
    parser.add_argument("directory", metavar="DIR")
    directory = parser.parse_args(argv).directory
    try:
        made = make_keys(directory)
    except OSError as e:
        parser.exit(1, f"cannot make keys in {directory}: {e}\n")
    print(f"made the {' and '.join(made)} keys in {directory}" if made
          else f"keys already in {directory}")


if __name__ == "__main__":
    main()
