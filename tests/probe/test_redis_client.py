"""The probes' Redis client tries once: redis-py's default retries a refused or dropped connection three
more times with backoff, which kept status, Sentinel discovery and the failover bench on a dead node."""

from __future__ import annotations

import socket
import threading

import pytest
import redis

from gitlab_ha.probe.redis import redis_client


def _accepts_and_hangs_up() -> tuple[socket.socket, list[int], threading.Thread]:
    """A listener that counts connections and closes each at once (a node dying under the client)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(3)
    count = [0]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            count[0] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, count, thread


def test_one_connection_attempt_per_call() -> None:
    server, count, thread = _accepts_and_hangs_up()
    try:
        port = server.getsockname()[1]
        with pytest.raises(redis.ConnectionError):
            redis_client("127.0.0.1", port, timeout=2).ping()
        ours = count[0]
        with pytest.raises(redis.ConnectionError):
            redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping()  # the library's default
        assert ours == 1 and count[0] - ours > 1
    finally:
        server.close()
        thread.join(timeout=5)
