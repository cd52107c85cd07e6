"""The `gitlab-ctl` commands the reconfigure model's files call, for the lab's nodes.

Omnibus' patroni.yaml bootstraps with `gitlab-ctl patroni bootstrap`, its Consul check runs
`gitlab-ctl patroni check-leader`, and its PgBouncer watch runs a handler that calls
`gitlab-ctl pgb-notify` or `pgb-kill`. In the lab the model writes `python -m gitlab_ha.lab.ctl
--root NODE_ROOT …` in their place; each command here does what its Omnibus namesake does, reading
the node's files under NODE_ROOT as gitlab-ctl reads the node's attributes:

- `patroni bootstrap --srcdir DIR [--datadir D]`: initdb -E UTF8, then copy DIR's files (the
  rendered postgresql.base.conf, runtime.conf, pg_hba.conf, pg_ident.conf) into the data directory;
- `patroni check-leader`: GET /leader on the node's Patroni API: exit 0 leader, 1 not, 3 error;
- `consul handle-failover --database DB`: the watch handler (health of `postgresql` on stdin): one
  healthy leader → pgb-notify to its node address; none → exit 4, no change; several → pgb-kill;
- `pgb-notify --newhost H [--database DB] [--user U]`: rewrite databases.ini from databases.json
  (host, auth_user, dbname), RESUME if paused, RELOAD;
- `pgb-kill [--database DB]`: KILL the database's connections on the admin console.

Exit codes follow Omnibus' (the failover handler: 0 done, 2 bad JSON, 3+ split brain, 4 no leader).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from gitlab_ha.fsutil import write_atomic

# psycopg, the process toolkit (asyncio) and the PgBouncer file model are imported where used: Consul runs `patroni check-leader` every
# second in the fast profile, and their ~0.5 s of imports per run kept a core busy on two postgres nodes.


def _paths(root: Path) -> dict[str, Path]:
    return {
        "patroni_yaml": root / "patroni" / "patroni.yaml",
        "pgbouncer_ini": root / "pgbouncer" / "pgbouncer.ini",
        "log": root / "log" / "consul" / "failover_pgbouncer.log",
        "pgpass": root / "home" / "gitlab-consul" / ".pgpass",
    }


def _log(root: Path, message: str) -> None:
    path = _paths(root)["log"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(message.rstrip() + "\n")


def superuser(root: Path) -> str:
    """The database superuser patroni.yaml names (Omnibus: gitlab-psql, its OS account's name)."""
    with contextlib.suppress(OSError, yaml.YAMLError, KeyError, TypeError):
        config = yaml.safe_load(_paths(root)["patroni_yaml"].read_text())
        return str(config["postgresql"]["authentication"]["superuser"]["username"])
    return "gitlab-psql"


def bootstrap(root: Path, srcdir: Path, datadir: Path | None, pg_bin: Path) -> int:
    """`gitlab-ctl patroni bootstrap`: initdb, then the rendered config files into the data dir.

    Omnibus runs initdb as gitlab-psql, so the superuser is gitlab-psql; the lab runs it as Debian's
    postgres and names the superuser explicitly (-U), which pg_ident.conf maps back."""
    from gitlab_ha.proc import call

    if datadir is None:
        datadir = root / "postgresql" / "data"
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    argv = [str(pg_bin / "initdb"), "-D", str(datadir), "-E", "UTF8", "-U", superuser(root)]
    done = call(argv, env=env, timeout=120)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        return done.returncode
    for item in sorted(srcdir.iterdir()):
        if item.is_file():
            shutil.copy2(item, datadir / item.name)
    return 0


def check_leader(root: Path) -> int:
    """0 when this node's Patroni answers 200 on /leader, 1 when it answers otherwise, 3 on error."""
    # http.client, not a client library: Consul runs this as a new process every check interval.
    try:
        config = yaml.safe_load(_paths(root)["patroni_yaml"].read_text())
        api = config["restapi"]
        host, _, port = str(api["connect_address"]).rpartition(":")
        headers = {}
        auth = api.get("authentication")
        if isinstance(auth, dict):
            token = base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", "/leader", headers=headers)
            return 0 if conn.getresponse().status == 200 else 1
        finally:
            conn.close()
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return 3


def _ini(root: Path) -> dict[str, str]:
    """pgbouncer.ini's `key = value` lines and its %include target."""
    out: dict[str, str] = {}
    for raw in _paths(root)["pgbouncer_ini"].read_text().splitlines():
        line = raw.strip()
        if line.startswith("%include "):
            out["%include"] = line.split(None, 1)[1]
        elif "=" in line and not line.startswith((";", "#", "[")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _admin(root: Path, user: str, sql: str) -> list[dict[str, Any]]:
    """The admin console's rows, by column name (their order changes between PgBouncer releases)."""
    import psycopg

    ini = _ini(root)
    host = ini.get("listen_addr", "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "*") else host
    env_pgpass = str(_paths(root)["pgpass"])
    with psycopg.connect(
        host=host,
        port=int(ini.get("listen_port", "6432")),
        dbname="pgbouncer",
        user=user,
        passfile=env_pgpass,
        autocommit=True,
        connect_timeout=5,
        prepare_threshold=None,
    ) as conn:
        cursor = conn.execute(sql)  # the admin console takes no parameters
        if not cursor.description:
            return []
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def pgb_notify(root: Path, newhost: str | None, database: str, user: str, port: int | None = None) -> int:
    import psycopg

    from gitlab_ha.reconfigure.files.pgbouncer import databases_ini_text

    ini = _ini(root)
    ini_path = Path(ini["%include"])
    json_path = ini_path.with_name("databases.json")
    if not json_path.exists():
        return 0
    entries = json.loads(json_path.read_text())
    text = databases_ini_text(
        entries, target=database, rails_databases=(database,), newhost=newhost, port=port, user=user
    )
    write_atomic(ini_path, text, mode=0o644)
    try:
        for row in _admin(root, user, "SHOW DATABASES"):
            if row.get("name") == database and row.get("paused") == 1:  # after pgb-kill's KILL
                _admin(root, user, f"RESUME {database}")
        _admin(root, user, "RELOAD")
    except psycopg.Error as err:
        sys.stderr.write(f"pgb-notify: RELOAD failed ({err}); check the .pgpass of the Consul account\n")
        return 1
    return 0


def pgb_kill(root: Path, database: str, user: str) -> int:
    import psycopg

    try:
        _admin(root, user, f"KILL {database}")
    except psycopg.Error as err:
        sys.stderr.write(f"pgb-kill: {err}\n")
        return 1
    return 0


def _passing(entry: dict[str, Any], check_id: str) -> bool:
    return any(c.get("CheckID") == check_id and c.get("Status") == "passing" for c in entry.get("Checks", []))


def handle_failover(root: Path, database: str, user: str, stdin: str) -> int:
    """FailoverHelper: the healthy leaders are entries whose serfHealth and service:postgresql pass."""
    try:
        entries = json.loads(stdin)
    except ValueError:
        _log(root, "invalid JSON on stdin")
        return 2
    leaders = [e for e in entries if _passing(e, "serfHealth") and _passing(e, "service:postgresql")]
    if not leaders:
        _log(root, "No healthy primary node found.")
        return 4
    if len(leaders) > 1:
        names = ", ".join(str(e.get("Node", {}).get("Node")) for e in leaders)
        _log(root, f"Split brain: several leaders ({names}); stopping PgBouncer's traffic")
        return 3 + pgb_kill(root, database, user)
    node = leaders[0].get("Node", {})
    address = str(node.get("Address"))
    _log(root, f"leader is {node.get('Node')} ({address}): pgb-notify")
    return pgb_notify(root, address, database, user)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitlab_ha.lab.ctl", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the node's data root in the lab")
    parser.add_argument("--pg-bin", type=Path, default=Path("/usr/lib/postgresql/15/bin"))
    sub = parser.add_subparsers(dest="command", required=True)
    patroni = sub.add_parser("patroni")
    patroni.add_argument("action", choices=["bootstrap", "check-leader"])
    patroni.add_argument("--srcdir", type=Path)
    patroni.add_argument("--datadir", type=Path)
    patroni.add_argument("--scope")
    consul = sub.add_parser("consul")
    consul.add_argument("action", choices=["handle-failover"])
    for name in ("pgb-notify", "pgb-kill"):
        sub.add_parser(name)
    for cmd in (consul, *(sub.choices[n] for n in ("pgb-notify", "pgb-kill"))):
        cmd.add_argument("--database", default="gitlabhq_production")
        cmd.add_argument("--user", default="pgbouncer")
        cmd.add_argument("--hostuser", default=None)
    sub.choices["pgb-notify"].add_argument("--newhost")
    sub.choices["pgb-notify"].add_argument("--port", type=int)
    args, _unknown = parser.parse_known_args(argv)  # Patroni appends its own --scope/--datadir forms
    root: Path = args.root
    if args.command == "patroni":
        if args.action == "bootstrap":
            if args.srcdir is None:
                parser.error("bootstrap needs --srcdir")
            return bootstrap(root, args.srcdir, args.datadir, args.pg_bin)
        return check_leader(root)
    if args.command == "consul":
        return handle_failover(root, args.database, args.user, sys.stdin.read())
    if args.command == "pgb-notify":
        return pgb_notify(root, args.newhost, args.database, args.user, args.port)
    return pgb_kill(root, args.database, args.user)


if __name__ == "__main__":
    sys.exit(main())
