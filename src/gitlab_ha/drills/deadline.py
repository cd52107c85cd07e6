"""A client-side deadline for one blocking call on a connection: when it passes, the connection's
socket is shut down, so a read blocked on a stopped (SIGSTOP) or partitioned server returns at once
with an error, and the caller knows it timed out. libpq has no read timeout of its own, and on
loopback TCP keepalives never fire: the kernel answers for a stopped process."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from types import TracebackType


class SocketDeadline:
    """`with SocketDeadline(fileno, seconds) as deadline: …`; `deadline.fired` says whether it cut the call.

    The timer and the end of the block share a lock, so the socket is shut down only while the block
    runs: never a descriptor number that was closed and reused afterwards.
    """

    def __init__(self, fileno: int, seconds: float) -> None:
        self.fileno = fileno
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._lock:
            if self._done or self.fileno < 0:
                return
            self.fired = True
            with contextlib.suppress(OSError):
                sock = socket.socket(fileno=os.dup(self.fileno))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()

    def __enter__(self) -> SocketDeadline:
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
