"""PgBouncer: each one's target for Rails' database (`SHOW DATABASES`), against the Patroni leader."""

from __future__ import annotations

from typing import Any

import psycopg

from gitlab_ha.probe.model import Component, Row, Verdict
from gitlab_ha.probe.target import Target
from gitlab_ha.topology.facts import PORTS


def parse(databases: list[dict[str, Any]], database: str) -> tuple[str | None, bool]:
    """(the host `database` points at, whether it is paused) from SHOW DATABASES rows."""
    for row in databases:
        if row.get("name") == database:
            return (str(row.get("host")) if row.get("host") else None), bool(row.get("paused"))
    return None, False


def collect(target: Target, leader: str | None) -> Component:
    password = target.secret("pgbouncer_password")
    rows: list[Row] = []
    for node in target.running("pgbouncer"):
        try:
            with psycopg.connect(
                host=node.address,
                port=PORTS["pgbouncer"],
                dbname="pgbouncer",
                user="pgbouncer",
                password=password,
                autocommit=True,
                connect_timeout=2,
                prepare_threshold=None,
            ) as conn:
                cursor = conn.execute("SHOW DATABASES")
                names = [c.name for c in cursor.description or []]
                databases = [dict(zip(names, values, strict=False)) for values in cursor.fetchall()]
        except psycopg.Error as err:
            rows.append(Row(node.name, "pgbouncer", "unreachable", str(err).splitlines()[0][:120], ok=False))
            continue
        host, paused = parse(databases, target.database)
        ok = host is not None and (leader is None or host == leader) and not paused
        state = "paused" if paused else ("follows the leader" if ok else f"points at {host}")
        rows.append(Row(node.name, "pgbouncer", state, f"{target.database} → {host}", ok))
    if not rows:
        return Component("PgBouncer", Verdict.NOT_RUNNABLE, "no PgBouncer in this topology", rows)
    verdict = (
        Verdict.OK if all(r.ok for r in rows) else (Verdict.DOWN if not any(r.ok for r in rows) else Verdict.DEGRADED)
    )
    return Component("PgBouncer", verdict, f"leader {leader or 'unknown'}", rows)
