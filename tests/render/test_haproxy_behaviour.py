"""The rendered internal HAProxy, run for real: a PgBouncer that refuses connections (its node just died)
costs clients nothing while the health checks have not yet marked it down."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitlab_ha.proc import Process, wait_tcp
from gitlab_ha.render.context import Context, Placeholders
from gitlab_ha.render.haproxy import internal
from gitlab_ha.topology.load import load_text
from tests.helpers import preset_text

NET = "127.88.1."  # the seed's 10.10.1.x nodes, on loopback addresses of this test's own


@pytest.fixture
def live_pgbouncer() -> Iterator[str]:
    """A stand-in for postgres-1's PgBouncer: accepts and greets; postgres-2's stays dead."""
    server = socket.create_server((f"{NET}120", 6432))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"{NET}120"
    finally:
        stop.set()
        thread.join()
        server.close()


def test_a_refused_connection_is_redispatched_before_the_checks_notice(live_pgbouncer: str, tmp_path: Path) -> None:
    topo = load_text(preset_text("seed-15"), "seed-15").topology
    text = internal(Context(topo, Placeholders()), topo.node("internal-lb"))
    text = text.replace("10.10.1.", NET).replace("127.0.0.1:8404", f"{NET}233:8404")
    text = text.replace("maxconn 20000", "maxconn 1000")  # within this machine's open-file limit
    # no health checks: the dead server stays "up", as it is for inter x fall seconds after a node dies
    text = re.sub(r"(server \S+ \S+) check.*", r"\1", text)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    assert subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], check=False).returncode == 0
    with Process.spawn(["haproxy", "-f", str(cfg)]) as haproxy:
        wait_tcp(f"{NET}233", 6432, deadline=10)
        greeted = 0
        for _ in range(20):
            with socket.create_connection((f"{NET}233", 6432), timeout=5) as conn:
                conn.settimeout(5)
                greeted += conn.recv(5) == b"hello"
        assert haproxy.returncode is None
    assert greeted == 20  # without redispatch every other connection (leastconn) went to the dead one
