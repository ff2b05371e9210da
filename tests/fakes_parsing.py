"""
A stand-in for C{reactor.spawnProcess} and the parser processes it starts,
so that L{worker.parsing.ParserPool}'s logic runs under a L{Clock}.

It keeps the real thing's contract, which
tests/integration/test_parsing_processes.py checks against real children:
the protocol is connected before spawn returns; a kill is asynchronous
(the process ends when the test says so); the end is
C{childConnectionLost} for each pipe, then C{processExited}, then
C{processEnded} exactly once, with L{ProcessDone} for status 0 and
L{ProcessTerminated} otherwise; after it C{pid} is C{None} and
C{signalProcess} raises L{ProcessExitedAlready}; writes to a closed stdin
are dropped.
"""

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.python.failure import Failure

from worker.parse_child import decode_frame, encode_frame


def ending(status=0, signal=None):
    """The reason a process that exited with C{status} or died of C{signal} ends with."""
    if status == 0 and signal is None:
        return ProcessDone(0)
    return ProcessTerminated(None if signal else status, signal)


class FakeProcess:
    """The transport side is what the pool calls; the rest is the child's side."""

    def __init__(self, protocol, executable, args, env, path, pid):
        self.protocol = protocol
        self.executable, self.args, self.env, self.path = executable, args, env, path
        self.pid = pid
        self.written = bytearray()
        self.stdin_closed = False
        self.signals = []
        self.ended = False
        protocol.makeConnection(self)

    # The transport, as the pool sees it.

    def write(self, data):
        if not self.stdin_closed:
            self.written += data

    def closeStdin(self):
        self.stdin_closed = True

    def signalProcess(self, name):
        if self.ended:
            raise ProcessExitedAlready()
        self.signals.append(name)

    # The child's side, driven by the test.

    def requests(self):
        """Every request written so far, as C{(header, body)}."""
        frames, data = [], bytes(self.written)
        while (frame := decode_frame(data)) is not None:
            header, body, used = frame
            frames.append((header, body))
            data = data[used:]
        return frames

    def say(self, header, chunk=None):
        """Write a frame to the pool, in chunks of C{chunk} bytes if given."""
        data = encode_frame(header)
        step = chunk or len(data)
        for start in range(0, len(data), step):
            self.protocol.childDataReceived(1, data[start:start + step])

    def ready(self):
        self.say({"ready": True})
        return self

    def answer(self, parsed):
        self.say({"parsed": vars(parsed)})

    def stderr(self, text):
        self.protocol.childDataReceived(2, text.encode())

    def end(self, status=0, signal=None):
        """The process exits: pipes close, then the reaper's two callbacks."""
        reason = Failure(ending(status, signal))
        for fd in (0, 1, 2):
            self.protocol.childConnectionLost(fd)
        self.ended, self.stdin_closed, self.pid = True, True, None
        self.protocol.processExited(reason)
        self.protocol.processEnded(reason)


class FakeSpawn:
    """Call it as C{reactor.spawnProcess}; it keeps every process it made."""

    def __init__(self):
        self.processes = []
        self.error = None
        self._next_pid = 1000

    def __call__(self, protocol, executable, args=(), env=None, path=None):
        if self.error is not None:
            raise self.error
        self._next_pid += 1
        process = FakeProcess(protocol, executable, args, env, path, self._next_pid)
        self.processes.append(process)
        return process

    def alive(self):
        return [p for p in self.processes if not p.ended]

    def last(self):
        return self.processes[-1]
