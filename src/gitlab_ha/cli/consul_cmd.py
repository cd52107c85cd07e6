"""`gitlab-ha consul …`: the Consul-compatible agent and Consul's own CLI verbs, spelt as Consul spells them.

Consul's options are single-dash long options (`-dev`, `-config-dir`, `-http-addr`). Click already
parses a declared `-dev` as a long option (a one-dash prefix with a multi-letter name), so every option
is declared twice, `-name` and `--name`: scripts written for `consul` run unchanged, and the usual
`--name` spelling works too. No argv rewriting is needed.

The client verbs talk to the agent over HTTP like Consul's CLI: `-http-addr` or `CONSUL_HTTP_ADDR`,
default `http://127.0.0.1:8500`; for an https address, `CONSUL_CACERT` and `CONSUL_CLIENT_CERT` with
`CONSUL_CLIENT_KEY` as Consul's CLI reads them (the `-ca-file` style flags are not offered).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import typer

from gitlab_ha.cli.output import print_json, report
from gitlab_ha.discovery.client import DEFAULT_HTTP_ADDR, ConsulClient, UnexpectedResponse, Unreachable
from gitlab_ha.errors import InputError

consul_app = typer.Typer(
    name="consul",
    help="A Consul-compatible discovery agent (HTTP API, DNS, checks, KV, sessions, watches) and Consul's CLI verbs.\n\n"
    "Example: gitlab-ha consul agent -dev -config-dir /etc/consul.d",
    no_args_is_help=True,
)
services_app = typer.Typer(help="Register and deregister services with the local agent.", no_args_is_help=True)
catalog_app = typer.Typer(help="List services and nodes of the catalog.", no_args_is_help=True)
kv_app = typer.Typer(help="Read and write the key/value store.", no_args_is_help=True)
consul_app.add_typer(services_app, name="services")
consul_app.add_typer(catalog_app, name="catalog")
consul_app.add_typer(kv_app, name="kv")

HTTP_ADDR_HELP = (
    "Address of the agent's HTTP API (also CONSUL_HTTP_ADDR); for https, CONSUL_CACERT and"
    " CONSUL_CLIENT_CERT + CONSUL_CLIENT_KEY name the CA and the client certificate."
)


def _http_addr_option() -> Any:
    return typer.Option(DEFAULT_HTTP_ADDR, "-http-addr", "--http-addr", envvar="CONSUL_HTTP_ADDR", help=HTTP_ADDR_HELP)


# --- talking to the agent: the one client (gitlab_ha.discovery.client); here only its errors become output --------


@contextlib.contextmanager
def _agent(http_addr: str) -> Iterator[ConsulClient]:
    """The agent at -http-addr; an unreachable agent or a refused call is one `error:` line and exit 1."""
    client = ConsulClient.from_environment(http_addr, os.environ)  # bad input: InputError, exit 2
    try:
        yield client
    except (Unreachable, UnexpectedResponse) as exc:
        _die(str(exc))
    finally:
        client.close()


def _die(message: str) -> NoReturn:
    report(message)
    raise typer.Exit(1)


def _columns(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# --- agent -------------------------------------------------------------------------------------------------------


@consul_app.command("agent")
def agent_cmd(
    dev: bool = typer.Option(False, "-dev", "--dev", help="Development mode: state in memory only."),
    config_dir: list[Path] = typer.Option(
        [], "-config-dir", "--config-dir", help="Read every .json/.hcl file of this dir (repeatable)."
    ),
    config_file: list[Path] = typer.Option(
        [], "-config-file", "--config-file", help="Read this config file (repeatable)."
    ),
    node: str | None = typer.Option(None, "-node", "--node", help="Node name (default: the host name)."),
    bind: str | None = typer.Option(None, "-bind", "--bind", help="Address of this node in the cluster."),
    advertise: str | None = typer.Option(None, "-advertise", "--advertise", help="Address advertised to others."),
    client: str | None = typer.Option(
        None, "-client", "--client", help="Address(es) the HTTP and DNS servers listen on."
    ),
    http_port: int | None = typer.Option(None, "-http-port", "--http-port", help="HTTP port (0: any free port)."),
    dns_port: int | None = typer.Option(
        None, "-dns-port", "--dns-port", help="DNS port, UDP and TCP (0: any free port, -1: off)."
    ),
    data_dir: Path | None = typer.Option(None, "-data-dir", "--data-dir", help="Where state is persisted."),
    datacenter: str | None = typer.Option(None, "-datacenter", "--datacenter", help="Datacenter name (default dc1)."),
    domain: str | None = typer.Option(None, "-domain", "--domain", help="DNS domain (default consul)."),
    enable_script_checks: bool = typer.Option(
        False,
        "-enable-script-checks",
        "--enable-script-checks",
        help="Allow script checks from config files and from anyone who reaches the HTTP API.",
    ),
    enable_local_script_checks: bool = typer.Option(
        False,
        "-enable-local-script-checks",
        "--enable-local-script-checks",
        help="Allow script checks from config files only.",
    ),
    server: bool = typer.Option(False, "-server", "--server", help="Run as a server (a Raft voter)."),
    bootstrap: bool = typer.Option(False, "-bootstrap", "--bootstrap", help="Bootstrap alone (bootstrap_expect 1)."),
    bootstrap_expect: int | None = typer.Option(
        None, "-bootstrap-expect", "--bootstrap-expect", help="Servers to wait for before the first election."
    ),
    retry_join: list[str] = typer.Option(
        [], "-retry-join", "--retry-join", help="Address (host[:port]) to join, retried (repeatable)."
    ),
    join: list[str] = typer.Option([], "-join", "--join", help="Address to join at start (repeatable)."),
    retry_interval: str | None = typer.Option(
        None, "-retry-interval", "--retry-interval", help="Time between join attempts (default 1s)."
    ),
    encrypt: str | None = typer.Option(None, "-encrypt", "--encrypt", help="Gossip key (consul keygen)."),
    serf_lan_port: int | None = typer.Option(
        None, "-serf-lan-port", "--serf-lan-port", help="Gossip port, UDP (default 8301; 0: any)."
    ),
    server_port: int | None = typer.Option(
        None, "-server-port", "--server-port", help="Server RPC port, TCP (default 8300; 0: any)."
    ),
    ui: bool = typer.Option(False, "-ui", "--ui", help="Accepted for Consul compatibility; there is no UI."),
    dns_workers: int | None = typer.Option(
        None, "-dns-workers", "--dns-workers", help="DNS worker processes (default: one per core; our extension)."
    ),
    log_level: str = typer.Option("info", "-log-level", "--log-level", help="debug, info, warn or error."),
) -> None:
    """Run the agent in the foreground until SIGINT/SIGTERM; SIGHUP reloads the config dirs and files.

    Example: gitlab-ha consul agent -config-dir /etc/consul.d -data-dir /var/lib/consul
    """
    import socket

    from gitlab_ha.discovery.agent import Agent
    from gitlab_ha.discovery.config import AgentFlags, ConfigSource
    from gitlab_ha.discovery.values import parse_duration

    del ui
    flags = AgentFlags(
        node=node,
        bind=bind,
        advertise=advertise,
        client=client,
        http_port=http_port,
        dns_port=dns_port,
        data_dir=data_dir,
        dns_workers=dns_workers,
        datacenter=datacenter,
        domain=domain,
        enable_script_checks=enable_script_checks,
        enable_local_script_checks=enable_local_script_checks,
        server=server,
        bootstrap=bootstrap,
        bootstrap_expect=bootstrap_expect,
        retry_join=[*join, *retry_join],
        retry_interval=parse_duration(retry_interval, "-retry-interval") if retry_interval else None,
        encrypt=encrypt,
        serf_lan_port=serf_lan_port,
        server_port=server_port,
    )
    level = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}.get(
        log_level.lower()
    )
    if level is None:
        raise InputError(f"unknown log level {log_level!r}", "-log-level")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s [%(levelname)s] %(name)s: %(message)s")
    source = ConfigSource(list(config_dir), list(config_file), flags, node_name=socket.gethostname(), dev=dev)
    cfg = source.load()

    async def main() -> None:
        agent = Agent(cfg, source)

        def ready() -> None:
            hosts = cfg.client_addr.split() or ["127.0.0.1"]
            http = ",".join(f"{h}:{agent.http_port}" for h in hosts)
            dns = ",".join(f"{h}:{agent.dns_port}" for h in hosts)
            if agent.https_port >= 0:
                dns += " https=" + ",".join(f"{h}:{agent.https_port}" for h in hosts)
            print(
                f"==> gitlab-ha consul agent running: node={agent.node} dc={cfg.datacenter} http={http} dns={dns} "
                f"serf={cfg.bind_addr}:{agent.gossip.port} role={'server' if cfg.server else 'client'}"
                + (f" rpc={cfg.bind_addr}:{agent.rpc.port}" if agent.rpc is not None else ""),
                flush=True,
            )

        await agent.run_forever(ready)

    try:
        asyncio.run(main())
    except OSError as exc:
        _die(f"agent failed to start: {exc}")


# --- client verbs ------------------------------------------------------------------------------------------------


@consul_app.command("members")
def members_cmd(
    detailed: bool = typer.Option(
        False, "-detailed", "--detailed", help="Show each member's tags instead of the summary columns."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the members as JSON (our extension)."),
    http_addr: str = _http_addr_option(),
) -> None:
    """List the members of the cluster.

    Example: gitlab-ha consul members -detailed
    """
    with _agent(http_addr) as agent:
        members = agent.ok("GET", "/v1/agent/members", "Error retrieving members")
    if json_out:
        print_json(members)
        return
    if detailed:
        # as `consul members -detailed`: the member's gossip tags, key=value, sorted and comma-joined
        rows = [["Node", "Address", "Status", "Tags"]]
        for m in members:
            tags = m.get("Tags", {})
            rows.append([*_member(m), ",".join(f"{k}={v}" for k, v in sorted(tags.items()))])
    else:
        rows = [["Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"]]
        for m in members:
            tags = m.get("Tags", {})
            kind = "server" if tags.get("role") == "consul" else "client"
            build, protocol = tags.get("build", "").split(":")[0], str(m.get("ProtocolCur", 2))
            rows.append([*_member(m), kind, build, protocol, tags.get("dc", ""), "default", "<all>"])
    _columns(rows)


_STATUS_NAMES = {0: "none", 1: "alive", 2: "leaving", 3: "left", 4: "failed"}


def _member(m: dict[str, Any]) -> list[str]:
    """Node, Address and Status: the columns both member tables start with."""
    return [m["Name"], f"{m['Addr']}:{m['Port']}", _STATUS_NAMES.get(m.get("Status", 0), "unknown")]


@services_app.command("register")
def services_register(
    files: list[Path] = typer.Argument(None, help="Service definition files (JSON or HCL)."),
    name: str | None = typer.Option(None, "-name", "--name", help="Service name, instead of a file."),
    service_id: str | None = typer.Option(None, "-id", "--id", help="Service ID (default: the name)."),
    port: int = typer.Option(0, "-port", "--port"),
    address: str = typer.Option("", "-address", "--address"),
    tag: list[str] = typer.Option([], "-tag", "--tag", help="Tag (repeatable)."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Register services from definition files, or one service from flags.

    Example: gitlab-ha consul services register web.json
    """
    from gitlab_ha.discovery.config import definition_files, parse_service, register_request

    if files and name:
        raise InputError("give definition files or -name, not both", "-name")
    if name:
        raw = {
            "name": name,
            "port": port,
            "address": address,
            "tags": tag,
            **({"id": service_id} if service_id else {}),
        }
        defs = [parse_service(raw, "flags")]
    elif files:
        defs = definition_files(files)
    else:
        raise InputError("give a service definition file or -name", "services register")
    with _agent(http_addr) as agent:
        for svc, checks in defs:
            body = json.dumps(register_request(svc, checks))
            agent.ok("PUT", "/v1/agent/service/register", f"Error registering service {svc['Service']!r}", body=body)
            typer.echo(f"Registered service: {svc['Service']}")


@services_app.command("deregister")
def services_deregister(
    files: list[Path] = typer.Argument(None, help="Service definition files (JSON or HCL)."),
    service_id: str | None = typer.Option(None, "-id", "--id", help="Service ID, instead of a file."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Deregister services named in definition files, or by -id.

    Example: gitlab-ha consul services deregister -id web
    """
    from gitlab_ha.discovery.config import definition_files

    if files and service_id:
        raise InputError("give definition files or -id, not both", "-id")
    if service_id:
        ids = [service_id]
    elif files:
        ids = [svc["ID"] for svc, _ in definition_files(files)]
    else:
        raise InputError("give a service definition file or -id", "services deregister")
    with _agent(http_addr) as agent:
        for sid in ids:
            agent.ok("PUT", f"/v1/agent/service/deregister/{sid}", f"Error deregistering service {sid!r}")
            typer.echo(f"Deregistered service: {sid}")


@catalog_app.command("services")
def catalog_services(
    tags: bool = typer.Option(False, "-tags", "--tags", help="Show the tags too."),
    node: str | None = typer.Option(None, "-node", "--node", help="Only the services of this node."),
    http_addr: str = _http_addr_option(),
) -> None:
    """List the services of the catalog.

    Example: gitlab-ha consul catalog services -tags
    """
    with _agent(http_addr) as agent:
        if node:
            data = agent.ok("GET", f"/v1/catalog/node/{node}", "Error listing services")
            if data is None:
                _die(f"No node {node!r}")
            services: dict[str, list[str]] = {}
            for svc in data["Services"].values():
                services.setdefault(svc["Service"], []).extend(svc["Tags"])
        else:
            services = agent.ok("GET", "/v1/catalog/services", "Error listing services")
    for name in sorted(services):
        typer.echo(f"{name}  {','.join(sorted(set(services[name])))}".rstrip() if tags else name)


@catalog_app.command("nodes")
def catalog_nodes(
    service: str | None = typer.Option(None, "-service", "--service", help="Only nodes running this service."),
    json_out: bool = typer.Option(False, "--json", help="Print the nodes as JSON (our extension)."),
    http_addr: str = _http_addr_option(),
) -> None:
    """List the nodes of the catalog.

    Example: gitlab-ha consul catalog nodes
    """
    with _agent(http_addr) as agent:
        if service:
            entries = agent.ok("GET", f"/v1/catalog/service/{service}", "Error listing nodes")
            nodes = {
                e["Node"]: {"Node": e["Node"], "ID": e["ID"], "Address": e["Address"], "Datacenter": e["Datacenter"]}
                for e in entries
            }
            listing = list(nodes.values())
        else:
            listing = agent.ok("GET", "/v1/catalog/nodes", "Error listing nodes")
    if json_out:
        print_json(listing)
        return
    rows = [["Node", "ID", "Address", "DC"]]
    rows += [[n["Node"], n["ID"][:8], n["Address"], n["Datacenter"]] for n in listing]
    _columns(rows)


@kv_app.command("get")
def kv_get(
    key: str = typer.Argument("", help="Key (or prefix with -recurse/-keys)."),
    recurse: bool = typer.Option(False, "-recurse", "--recurse", help="Every key under the prefix, as key:value."),
    keys: bool = typer.Option(False, "-keys", "--keys", help="Only the key names under the prefix."),
    separator: str = typer.Option("/", "-separator", "--separator", help="With -keys: list up to this separator."),
    detailed: bool = typer.Option(False, "-detailed", "--detailed", help="Show the entry's metadata."),
    base64_out: bool = typer.Option(False, "-base64", "--base64", help="Print values base64-encoded."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Print a value (or several with -recurse, names with -keys).

    Example: gitlab-ha consul kv get -recurse service/
    """
    path = f"/v1/kv/{key}"
    with _agent(http_addr) as agent:
        if keys:
            reply = agent.call("GET", path, params={"keys": "", "separator": separator})
            if reply.status not in (200, 404):
                _die(f"Error querying Consul agent: Unexpected response code: {reply.status}")
            for name in reply.data if reply.status == 200 else []:
                typer.echo(name)
            return
        reply = agent.call("GET", path, params={"recurse": ""} if recurse else None)
    if reply.status == 404:
        if recurse:
            return
        _die(f"No key exists at: {key}")
    if reply.status != 200:
        _die(f"Error querying Consul agent: Unexpected response code: {reply.status} ({reply.text.strip()!r})")

    def value(entry: dict[str, Any]) -> str:
        raw = base64.b64decode(entry["Value"]) if entry.get("Value") else b""
        return base64.b64encode(raw).decode() if base64_out else raw.decode(errors="replace")

    for entry in reply.data:
        if detailed:
            fields = [
                ("CreateIndex", entry["CreateIndex"]),
                ("Flags", entry["Flags"]),
                ("Key", entry["Key"]),
                ("LockIndex", entry["LockIndex"]),
                ("ModifyIndex", entry["ModifyIndex"]),
                ("Session", entry.get("Session", "-")),
                ("Value", value(entry)),
            ]
            _columns([[k, str(v)] for k, v in fields])
        elif recurse:
            typer.echo(f"{entry['Key']}:{value(entry)}")
        else:
            typer.echo(value(entry))


@kv_app.command("put")
def kv_put(
    key: str = typer.Argument(..., help="Key."),
    data: str = typer.Argument("", help="Value; @FILE reads a file, - reads stdin."),
    cas: bool = typer.Option(False, "-cas", "--cas", help="Check-and-set against -modify-index."),
    modify_index: int = typer.Option(0, "-modify-index", "--modify-index"),
    flags: int = typer.Option(0, "-flags", "--flags"),
    acquire: bool = typer.Option(False, "-acquire", "--acquire", help="Take the lock with -session."),
    release: bool = typer.Option(False, "-release", "--release", help="Release the lock held by -session."),
    session: str = typer.Option("", "-session", "--session"),
    base64_in: bool = typer.Option(False, "-base64", "--base64", help="The value is base64-encoded."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Write a value.

    Example: gitlab-ha consul kv put config/redis/maxmemory 25mb
    """
    raw = _argument_data(data)
    if base64_in:
        try:
            raw = base64.b64decode(raw, validate=True)
        except ValueError:
            raise InputError("not valid base64", "VALUE") from None
    params = {"flags": str(flags)} if flags else {}
    if cas:
        params["cas"] = str(modify_index)
    if acquire or release:
        if not session:
            raise InputError("-acquire and -release need -session", "-session")
        params["acquire" if acquire else "release"] = session
    with _agent(http_addr) as agent:
        result = agent.ok("PUT", f"/v1/kv/{key}", "Error! Did not write to " + key, params=params or None, body=raw)
    if result is not True:
        _die(f"Error! Did not write to {key}: CAS or lock failed")
    typer.echo(f"Success! Data written to: {key}")


@kv_app.command("delete")
def kv_delete(
    key: str = typer.Argument("", help="Key (or prefix with -recurse)."),
    recurse: bool = typer.Option(False, "-recurse", "--recurse"),
    cas: bool = typer.Option(False, "-cas", "--cas"),
    modify_index: int = typer.Option(0, "-modify-index", "--modify-index"),
    http_addr: str = _http_addr_option(),
) -> None:
    """Delete a key (or every key under a prefix with -recurse).

    Example: gitlab-ha consul kv delete -recurse config/
    """
    params = {"recurse": ""} if recurse else {}
    if cas:
        params["cas"] = str(modify_index)
    with _agent(http_addr) as agent:
        result = agent.ok("DELETE", f"/v1/kv/{key}", "Error! Did not delete key " + key, params=params or None)
    if result is not True:
        _die(f"Error! Did not delete key {key}: CAS failed")
    typer.echo(f"Success! Deleted keys with prefix: {key}" if recurse else f"Success! Deleted key: {key}")


@kv_app.command("export")
def kv_export(
    prefix: str = typer.Argument("", help="Export the keys under this prefix (all when empty)."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Print the keys under PREFIX as JSON ([{"key", "flags", "value" (base64)}]), like `consul kv export`.

    Example: gitlab-ha consul kv export service/ > backup.json
    """
    from gitlab_ha.discovery.kv_export import export_rows

    with _agent(http_addr) as agent:
        reply = agent.call("GET", f"/v1/kv/{prefix}", params={"recurse": ""})
    if reply.status not in (200, 404):
        _die(f"Error querying Consul agent: Unexpected response code: {reply.status}")
    typer.echo(json.dumps(export_rows(reply.data if reply.status == 200 else []), indent=2))


@kv_app.command("import")
def kv_import(
    data: str = typer.Argument("-", help="@FILE, - for stdin, or the JSON itself (as `kv export` prints it)."),
    prefix: str = typer.Option("", "-prefix", "--prefix", help="Only import keys under this prefix."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Write the keys of a `kv export` document.

    Example: gitlab-ha consul kv import @backup.json
    """
    from gitlab_ha.discovery.kv_export import parse_export

    entries = parse_export(_argument_data(data).decode(errors="replace"), data)
    with _agent(http_addr) as agent:
        for entry in entries:
            if not entry.key.startswith(prefix):
                continue
            what = f"Error! Failed writing data for key {entry.key}"
            agent.ok("PUT", f"/v1/kv/{entry.key}", what, params={"flags": str(entry.flags)}, body=entry.value)
            typer.echo(f"Imported: {entry.key}")


def _argument_data(data: str) -> bytes:
    """A data argument as Consul's CLI reads one: `-` is stdin, `@FILE` a file, anything else itself."""
    if data == "-":
        return sys.stdin.buffer.read()
    if data.startswith("@"):
        try:
            return Path(data[1:]).read_bytes()
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), data[1:]) from None
    return data.encode()


@consul_app.command("keygen")
def keygen_cmd() -> None:
    """Print a new gossip encryption key: 32 random bytes, base64.

    Example: gitlab-ha consul keygen
    """
    from gitlab_ha.secrets.generate import new_gossip_key

    typer.echo(new_gossip_key())


@consul_app.command("validate")
def validate_cmd(
    paths: list[Path] = typer.Argument(..., help="Config dirs or files."),
    quiet: bool = typer.Option(False, "-quiet", "--quiet"),
) -> None:
    """Check config files as the agent would read them; exit 2 naming the file and field at fault.

    Example: gitlab-ha consul validate /etc/consul.d
    """
    from gitlab_ha.discovery.config import validate_paths

    validate_paths(list(paths))
    if not quiet:
        typer.echo("Configuration is valid!")


@consul_app.command("maint")
def maint_cmd(
    enable: bool = typer.Option(False, "-enable", "--enable", help="Put the node (or -service) into maintenance."),
    disable: bool = typer.Option(False, "-disable", "--disable", help="Take it out of maintenance."),
    service: str = typer.Option("", "-service", "--service", help="A service ID instead of the whole node."),
    reason: str = typer.Option("", "-reason", "--reason", help="Shown in the maintenance check's notes."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Put a node or a service into maintenance: a critical check takes it out of DNS and ?passing.

    Example: gitlab-ha consul maint -enable -service rails1 -reason "drill 4"
    """
    if enable == disable:
        raise InputError("give -enable or -disable", "maint")
    params = {"enable": "true" if enable else "false"}
    if reason:
        params["reason"] = reason
    path = f"/v1/agent/service/maintenance/{service}" if service else "/v1/agent/maintenance"
    with _agent(http_addr) as agent:
        agent.ok("PUT", path, "Error toggling maintenance mode", params=params)
    what = f"service {service!r}" if service else "node"
    typer.echo(f"{'Maintenance mode enabled' if enable else 'Maintenance mode disabled'} for {what}")


@consul_app.command("lock", context_settings={"allow_interspersed_args": False})
def lock_cmd(
    prefix: str = typer.Argument(..., help="KV prefix; the lock is PREFIX/.lock."),
    child: list[str] = typer.Argument(..., help="Command to run while holding the lock."),
    timeout: str = typer.Option(
        "", "-timeout", "--timeout", help="Give up if the lock is not held within this (e.g. 30s)."
    ),
    name: str = typer.Option("", "-name", "--name", help="Session name."),
    shell: bool = typer.Option(True, "-shell/-no-shell", "--shell/--no-shell", help="Run CHILD through sh -c."),
    http_addr: str = _http_addr_option(),
) -> None:
    """Hold a lock (a KV key acquired with a session) while CHILD runs, like `consul lock`; exit with its code.

    Example: gitlab-ha consul lock service/rails/migrate gitlab-rake db:migrate
    """
    from gitlab_ha.discovery.lock import Lock
    from gitlab_ha.discovery.values import parse_duration

    limit = parse_duration(timeout, "-timeout") if timeout else None
    argv = ["/bin/sh", "-c", " ".join(child)] if shell else list(child)
    with _agent(http_addr) as agent:
        lock = Lock(agent, prefix.rstrip("/") + "/.lock", name or f"Consul lock for {' '.join(child)} at {prefix}")
        try:
            code = lock.run(argv, limit)
        except TimeoutError:
            _die(f"Lock acquisition failed: not held within {timeout}")
        except OSError as exc:
            _die(f"Lock failed: {exc}")
    raise typer.Exit(code)


@consul_app.command("leave")
def leave_cmd(http_addr: str = _http_addr_option()) -> None:
    """Make the agent leave gracefully and stop.

    Example: gitlab-ha consul leave
    """
    with _agent(http_addr) as agent:
        agent.ok("PUT", "/v1/agent/leave", "Error leaving")
    typer.echo("Graceful leave complete")


@consul_app.command("reload")
def reload_cmd(http_addr: str = _http_addr_option()) -> None:
    """Make the agent read its config dirs and files again.

    Example: gitlab-ha consul reload
    """
    with _agent(http_addr) as agent:
        agent.ok("PUT", "/v1/agent/reload", "Error reloading")
    typer.echo("Configuration reload triggered")


@consul_app.command("watch", context_settings={"allow_interspersed_args": False})
def watch_cmd(
    handler: list[str] = typer.Argument(None, help="Command run with the JSON on stdin (default: print it)."),
    kind: str = typer.Option(..., "-type", "--type", help="key, keyprefix, services, nodes, service or checks."),
    key: str = typer.Option("", "-key", "--key"),
    prefix: str = typer.Option("", "-prefix", "--prefix"),
    service: str = typer.Option("", "-service", "--service"),
    tag: list[str] = typer.Option([], "-tag", "--tag"),
    passingonly: bool = typer.Option(False, "-passingonly", "--passingonly"),
    state: str = typer.Option("", "-state", "--state"),
    http_addr: str = _http_addr_option(),
) -> None:
    """Run HANDLER (or print JSON) each time the watched view changes; CONSUL_INDEX is in its environment.

    Example: gitlab-ha consul watch -type service -service postgresql /usr/local/bin/notify
    """
    from gitlab_ha.discovery.client import parse_address
    from gitlab_ha.discovery.definitions import parse_watch_spec
    from gitlab_ha.discovery.watches import WatchRunner

    params: dict[str, Any] = {"type": kind, "tag": tag, "passingonly": passingonly}
    for name, value in (("key", key), ("prefix", prefix), ("service", service), ("state", state)):
        if value:
            params[name] = value
    if kind == "keyprefix" and "prefix" not in params:
        params["prefix"] = ""
    spec = parse_watch_spec(params, "-type")
    scheme, host, port = parse_address(http_addr)
    runner = WatchRunner(spec, f"{scheme}://{host}:{port}", argv=list(handler) if handler else None)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)  # stop cleanly, a running handler included
        with contextlib.suppress(asyncio.CancelledError):
            await runner.run()

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.add_typer(consul_app, name="consul")


# --- tls ---------------------------------------------------------------------------------------------------------

tls_app = typer.Typer(help="Create the CA and certificates for TLS between agents and HTTPS.", no_args_is_help=True)
tls_ca_app = typer.Typer(help="The certificate authority.", no_args_is_help=True)
tls_cert_app = typer.Typer(help="Server, client and CLI certificates.", no_args_is_help=True)
consul_app.add_typer(tls_app, name="tls")
tls_app.add_typer(tls_ca_app, name="ca")
tls_app.add_typer(tls_cert_app, name="cert")


@tls_ca_app.command("create")
def tls_ca_create(
    domain: str = typer.Option("consul", "-domain", "--domain", help="The Consul domain."),
    days: int = typer.Option(1825, "-days", "--days", help="Days the CA is valid."),
) -> None:
    """Create a CA in the current directory: consul-agent-ca.pem and consul-agent-ca-key.pem (0600).

    Example: gitlab-ha consul tls ca create
    """
    from gitlab_ha.discovery.tls_certs import create_ca

    cert, key = create_ca(Path.cwd(), domain=domain, days=days)
    typer.echo(f"==> Saved {cert.name}\n==> Saved {key.name}")


@tls_cert_app.command("create")
def tls_cert_create(
    server: bool = typer.Option(False, "-server", "--server", help="A server certificate (server.<dc>.<domain>)."),
    client: bool = typer.Option(False, "-client", "--client", help="A client certificate (client.<dc>.<domain>)."),
    cli_cert: bool = typer.Option(False, "-cli", "--cli", help="A certificate for the CLI (cli.<dc>.<domain>)."),
    dc: str = typer.Option("dc1", "-dc", "--dc", help="Datacenter."),
    domain: str = typer.Option("consul", "-domain", "--domain", help="The Consul domain."),
    ca: Path | None = typer.Option(None, "-ca", "--ca", help="CA certificate (default <domain>-agent-ca.pem)."),
    key: Path | None = typer.Option(None, "-key", "--key", help="CA key (default <domain>-agent-ca-key.pem)."),
    days: int = typer.Option(365, "-days", "--days", help="Days the certificate is valid."),
    node: str = typer.Option("", "-node", "--node", help="Also <node>.server.<dc>.<domain> (servers)."),
    dns_names: list[str] = typer.Option([], "-additional-dnsname", "--additional-dnsname", help="Extra DNS name."),
    ips: list[str] = typer.Option([], "-additional-ipaddress", "--additional-ipaddress", help="Extra IP address."),
) -> None:
    """Create a certificate signed by the CA, named as Consul names it (dc1-server-consul-0.pem, …-key.pem 0600).

    Example: gitlab-ha consul tls cert create -server -dc gitlab_consul
    """
    import ipaddress

    from gitlab_ha.discovery.tls_certs import create_cert

    kinds = [k for k, on in (("server", server), ("client", client), ("cli", cli_cert)) if on]
    if len(kinds) != 1:
        raise InputError("give exactly one of -server, -client or -cli", "tls cert create")
    for address in ips:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InputError(f"not an IP address: {address!r}", "-additional-ipaddress") from None
    cert, private = create_cert(
        Path.cwd(), kinds[0], datacenter=dc.lower(), domain=domain, ca_file=ca, ca_key_file=key, days=days,
        dns_names=dns_names, ip_addresses=ips, node=node,
    )  # fmt: skip
    typer.echo(f"==> Using {ca or domain + '-agent-ca.pem'} and {key or domain + '-agent-ca-key.pem'}")
    typer.echo(f"==> Saved {cert.name}\n==> Saved {private.name}")
