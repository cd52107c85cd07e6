"""The primary sampler: `pg_is_in_recovery()` on every Patroni member, all through the drill.

It asks each member over its unix socket (`lab/nodes/NODE/postgresql`) as the OS user `postgres`,
whom `pg_ident.conf`'s peer map lets in as the superuser `gitlab-psql`: no TCP, so a network
partition of a member does not blind it. It runs as a helper process started with `proc` as
`postgres` (`python -m gitlab_ha.drills.sampler NODE=SOCKET_DIR …`), one thread per member, and
prints one JSON line `{"t": monotonic, "node": …, "state": primary|held|replica|down}` whenever a
member's state changes. `primaries.PrimarySampler` starts it and reads its lines.

`held` is a primary that cannot acknowledge a commit (`state_of`): its commits wait for a synchronous
standby (`synchronous_standby_names` set, `synchronous_commit` one that waits for a standby: `on`, its
default, `remote_write` or `remote_apply`; not `local` or `off`) and none streams as one. A frozen old
leader in synchronous mode resumes so: its standby now follows the new leader.
One streaming synchronous standby is enough for the lab (`synchronous_node_count` 1, Patroni's
default; a client that sets `synchronous_commit` to `local` in its session is not covered). A standby
cut off by a partition stays in `pg_stat_replication` until `wal_sender_timeout`, so a partitioned
leader reads as `primary` meanwhile: the sampler errs toward reporting two writable primaries.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time

INTERVAL = 0.1
TIMEOUT = 1.0
WAITS_FOR_STANDBY = ("on", "remote_write", "remote_apply")  # the synchronous_commit levels that wait
STATE = """
SELECT pg_is_in_recovery(),
       current_setting('synchronous_standby_names'),
       current_setting('synchronous_commit'),
       (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum'))
"""


def state_of(in_recovery: bool, standby_names: str, synchronous_commit: str, sync_standbys: int) -> str:
    """A member's state from what STATE reads: `replica` in recovery; `held` for a primary whose commits
    wait for a synchronous standby while none streams as one (sync or quorum); else `primary`."""
    if in_recovery:
        return "replica"
    if standby_names and synchronous_commit in WAITS_FOR_STANDBY and sync_standbys == 0:
        return "held"
    return "primary"


def _probe_loop(node: str, socket_dir: str, interval: float, timeout: float, lock: threading.Lock) -> None:
    import psycopg

    from gitlab_ha.drills.deadline import SocketDeadline

    conn: psycopg.Connection[tuple[object, ...]] | None = None
    last = ""
    while True:
        start = time.monotonic()
        try:
            if conn is None:
                conn = psycopg.connect(
                    host=socket_dir, dbname="postgres", user="gitlab-psql", connect_timeout=2, autocommit=True
                )
            with SocketDeadline(conn.pgconn.socket, timeout):
                row = conn.execute(STATE).fetchone()
            state = "replica" if row is None else state_of(bool(row[0]), str(row[1]), str(row[2]), int(str(row[3])))
        except psycopg.Error:
            state = "down"
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
                conn = None
        if state != last:
            line = json.dumps({"t": time.monotonic(), "node": node, "state": state})
            with lock:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            last = state
        time.sleep(max(0.0, interval - (time.monotonic() - start)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitlab_ha.drills.sampler")
    parser.add_argument("--interval", type=float, default=INTERVAL)
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    parser.add_argument("members", nargs="+", help="NODE=SOCKET_DIR")
    args = parser.parse_args(argv)
    lock = threading.Lock()
    threads = []
    for item in args.members:
        node, _, socket_dir = item.partition("=")
        thread = threading.Thread(
            target=_probe_loop, args=(node, socket_dir, args.interval, args.timeout, lock), daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
