"""The agent: its node's services and checks, the cluster it belongs to, HTTP, DNS, gossip and watches.

Two states live here, as in Consul:

- `local` — what this agent holds: its node, its services and checks (from config files and
  `/v1/agent/...` registrations) with the status its check runners found. `/v1/agent/*` reads it.
- `state` — the replica of the cluster's catalog, KV and sessions (`cluster.ServerCluster` or
  `cluster.ClientCluster`). Everything else (catalog, health, KV, sessions, DNS, watches) reads it.

Anti-entropy keeps the catalog's view of this node equal to `local`: after every local change, after
a leader change and every few seconds it compares the two and sends what differs (a missing service,
a changed status, a zombie check left from before a restart) as commands, so a server restart or a
lost write never leaves the catalog wrong for long. Writes to the catalog go through `submit`, which
returns once the command is committed and applied to this agent's replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
import uuid
from typing import Any

from aiohttp import web

from gitlab_ha.discovery.checks import CheckManager
from gitlab_ha.discovery.cluster import ClientCluster, ClusterBase, ServerCluster
from gitlab_ha.discovery.config import (
    AgentConfig,
    ConfigSource,
    DNSConfig,
    script_checks_allowed,
    script_checks_warning,
)
from gitlab_ha.discovery.dns import Settings
from gitlab_ha.discovery.dns_server import DNSService, ZoneSync
from gitlab_ha.discovery.gossip import Gossip, Keyring, Member
from gitlab_ha.discovery.http_api import API
from gitlab_ha.discovery.http_server import IDLE_TIMEOUT, ConnectionGuard, GuardedSite, quiet_resource_errors
from gitlab_ha.discovery.persist import FILE_MODE, DataDirCorrupt, Store
from gitlab_ha.discovery.raft import Timing
from gitlab_ha.discovery.rpc import Pool, RPCServer
from gitlab_ha.discovery.state import (
    JSON,
    SERF_CHECK,
    Command,
    CommandError,
    DeregisterCheck,
    DeregisterNode,
    DeregisterService,
    RegisterCheck,
    RegisterNode,
    RegisterService,
    SessionCreate,
    State,
    UpdateCheck,
)
from gitlab_ha.discovery.tls import client_context, server_context, server_name
from gitlab_ha.discovery.waits import cancel_and_wait, wait_event, within
from gitlab_ha.discovery.watches import WatchRunner, watch_from_config
from gitlab_ha.fsutil import write_atomic

log = logging.getLogger("gitlab_ha.discovery.agent")

VERSION = "1.18.0"  # the Consul HTTP API level this agent follows
CONFIG_SOURCE = "_source"
LOCAL_STATE = "local-state.json"
SYNC_INTERVAL = 2.0
_CHECK_FIELDS = ("CheckID", "Name", "Notes", "ServiceID", "Type")


def check_definition(record: JSON) -> JSON:
    """The definition a check record was made from (what RegisterCheck takes), status and output included."""
    out = dict(record["Definition"])
    for key in _CHECK_FIELDS:
        out[key] = record[key]
    out["Status"] = record["Status"]
    out["Output"] = record["Output"]
    return out


def _same_service(a: JSON, b: JSON) -> bool:
    skip = ("CreateIndex", "ModifyIndex")
    return {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}


def _same_check(a: JSON, b: JSON) -> bool:
    keys = ("Name", "Notes", "ServiceID", "Type", "Definition", "Status", "Output")
    return all(a.get(k) == b.get(k) for k in keys)


class Agent:
    def __init__(self, config: AgentConfig, source: ConfigSource | None = None) -> None:
        """`config`: what `source.load()` gave at start; `source`: where reload reads the config again."""
        self.config = config
        self.source = source
        self.store = Store(None if config.dev else config.data_dir)
        self.node = config.node_name
        self.node_id = self._node_id()
        self.local = State()
        self.timing = Timing(config.raft_multiplier)
        tls = config.tls
        # TLS on the RPC port: a server with a certificate that verifies (or is verified) speaks only TLS there
        self.rpc_tls = bool(tls.cert_file) and (tls.verify_incoming_rpc or tls.verify_outgoing)
        self.pool = Pool(
            client_context(tls) if tls.verify_outgoing else None,
            server_name(config.datacenter, config.domain),
        )
        self.rpc: RPCServer | None = (
            RPCServer(
                {},
                {},
                ssl_context=server_context(tls, verify_incoming=tls.verify_incoming_rpc) if self.rpc_tls else None,
            )
            if config.server
            else None
        )
        keyring = Keyring(
            config.encrypt,
            verify_incoming=config.encrypt_verify_incoming,
            verify_outgoing=config.encrypt_verify_outgoing,
        )
        self.gossip = Gossip(
            self.node,
            config.bind_addr,
            config.serf_lan_port,
            advertise=config.address,
            keyring=keyring,
            profile=config.gossip_profile(),
            on_change=self._member_changed,
        )
        self.cluster: ClusterBase
        if config.server:
            assert self.rpc is not None
            self.cluster = ServerCluster(
                name=self.node,
                datacenter=config.datacenter,
                store=self.store,
                gossip=self.gossip,
                pool=self.pool,
                rpc=self.rpc,
                timing=self.timing,
                bootstrap_expect=config.bootstrap_expect,
            )
        else:
            self.cluster = ClientCluster(
                datacenter=config.datacenter, gossip=self.gossip, pool=self.pool, timing=self.timing
            )
        self.cluster.on_change = self._wake
        self.checks = CheckManager(
            self.node,
            self.local,
            self._check_result,
            self._reap_service,
            update_interval=config.check_update_interval,
            output_max=config.check_output_max_size,
        )
        self.changed = asyncio.Event()
        self._sync_wanted = asyncio.Event()
        self._synced = asyncio.Event()
        self._fresh_checks: set[str] = set()  # restored/registered checks whose runner has not reported yet
        self._runner: web.AppRunner | None = None
        self._dns: DNSService | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._watches: list[WatchRunner] = []
        self.http_port = config.http_port
        self.https_port = config.tls.https_port
        self.dns_port = config.dns_port
        # DNS answers from the replica (`state`), so the zone follows every change of it: each command a
        # server's Raft or a client's log stream applies, and each snapshot installed in its place.
        self.zone_sync = ZoneSync(self.state)
        self.state.listeners.append(self._zone_applied)
        self.state.on_replace.append(self._zone_replaced)
        self._stopped = asyncio.Event()
        self.closing = False
        self.leaving = False

    @property
    def state(self) -> State:
        return self.cluster.state

    def _node_id(self) -> str:
        if self.config.data_dir is None or self.config.dev:
            return str(uuid.uuid4())
        path = self.config.data_dir / "node-id"
        if path.exists():
            try:
                text = path.read_bytes().decode("utf-8").strip()
                return str(uuid.UUID(text))
            except (UnicodeDecodeError, ValueError):
                raise DataDirCorrupt("not a node ID (a UUID); refusing to start", str(path)) from None
        node_id = str(uuid.uuid4())
        write_atomic(path, node_id + "\n", mode=FILE_MODE)
        return node_id

    # -- DNS: the workers' zone follows the replica ---------------------------------------------------------------

    def _zone_applied(self, cmd: Command, index: int) -> None:
        """A command applied to the replica (a Raft-committed entry on a server, a streamed one on a client),
        synchronously, before whoever waits for that index is answered: a query after an acknowledged
        write sees it."""
        update = self.zone_sync.after(cmd)
        if self._dns is not None:
            self._dns.changed(update)

    def _zone_replaced(self) -> None:
        """The replica was replaced whole (a snapshot from the leader, or a client's first or renewed stream)."""
        update = self.zone_sync.refresh_all()
        if self._dns is not None:
            self._dns.changed(update)

    def _wake(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()
        self._sync_wanted.set()

    # -- the cluster: writes, reads, sessions --------------------------------------------------------------------

    async def submit(self, cmd: Command) -> Any:
        """Commit a command to the catalog/KV/sessions; CommandError as Consul answers (incl. "No cluster leader")."""
        return await self.cluster.submit(cmd)

    async def consistent(self, mode: str) -> None:
        await self.cluster.consistent(mode)

    def consistency_headers(self) -> dict[str, str]:
        return {
            "X-Consul-KnownLeader": str(self.cluster.known_leader).lower(),
            "X-Consul-LastContact": str(self.cluster.last_contact_ms()),
        }

    async def create_session(self, cmd: SessionCreate) -> str:
        result: str = await self.submit(cmd)
        return result

    async def renew_session(self, session_id: str) -> bool:
        return await self.cluster.renew_session(session_id)

    # -- local services and checks -------------------------------------------------------------------------------

    def _local_apply(self, cmd: Command) -> None:
        self.local.apply(cmd)
        if isinstance(cmd, RegisterService):
            self._fresh_checks.update(c["CheckID"] for c in cmd.checks)
        elif isinstance(cmd, RegisterCheck):
            self._fresh_checks.add(cmd.check["CheckID"])
        self.checks.sync()
        self._save_local()
        self._sync_wanted.set()

    def _scripts_allowed(self, source: str) -> bool:
        """Remote (HTTP API) script checks need enable_script_checks; config-file ones either setting."""
        local = source == "config" and self.config.enable_local_script_checks
        return self.config.enable_script_checks or local

    def register_service(
        self, svc: JSON, checks: list[JSON], *, replace_checks: bool = False, source: str = ""
    ) -> None:
        script_checks_allowed(self._scripts_allowed(source), checks, local=source == "config")
        if source:
            svc = {**svc, CONFIG_SOURCE: source}
            checks = [{**c, CONFIG_SOURCE: source} for c in checks]
        self._local_apply(RegisterService(self.node, svc, tuple(checks), replace_checks))

    def register_check(self, check: JSON, *, source: str = "") -> None:
        script_checks_allowed(self._scripts_allowed(source), [check], local=source == "config")
        if source:
            check = {**check, CONFIG_SOURCE: source}
        self._local_apply(RegisterCheck(self.node, check))

    def deregister_service(self, service_id: str) -> None:
        self._local_apply(DeregisterService(self.node, service_id, time.time()))

    def deregister_check(self, check_id: str) -> None:
        self._local_apply(DeregisterCheck(self.node, check_id, time.time()))

    def update_check(self, check_id: str, status: str, output: str) -> None:
        """A TTL pass/warn/fail/update or a maintenance change: the local status (the note cut to the
        check's output limit, as Consul cuts it), then the catalog."""
        self._set_check(check_id, status, self.checks.clip(check_id, output))

    def _set_check(self, check_id: str, status: str, output: str) -> None:
        self._fresh_checks.discard(check_id)
        self.local.apply(UpdateCheck(self.node, check_id, status, output, time.time()))
        self._sync_wanted.set()

    def ttl_update(self, check_id: str) -> None:
        """A pass/warn/fail arrived for a TTL check: its timer starts again."""
        self.checks.ttl_update(check_id)

    def _check_result(self, check_id: str, status: str, output: str) -> None:
        """A check runner's result: its output is already cut to the check's limit."""
        with contextlib.suppress(CommandError):
            self._set_check(check_id, status, output)

    def _reap_service(self, service_id: str) -> None:
        with contextlib.suppress(CommandError):
            self.deregister_service(service_id)

    async def sync_now(self, timeout: float | None = None) -> None:
        """Make the catalog match `local` now (best effort within `timeout`: anti-entropy retries anyway)."""
        timeout = self.timing.hold if timeout is None else timeout
        with contextlib.suppress(CommandError, TimeoutError):
            await within(self._sync_once(), timeout)

    # -- anti-entropy --------------------------------------------------------------------------------------------

    def _diff(self) -> list[Command]:
        """The commands that make the catalog's view of this node equal to `local`."""
        out: list[Command] = []
        now = time.time()
        mine = self.local.nodes[self.node]
        node = self.state.nodes.get(self.node)
        for name, other in self.state.nodes.items():
            if name != self.node and other.get("ID") == self.node_id and SERF_CHECK in self.state.checks.get(name, {}):
                log.info("node %s carries this agent's node ID %s: deregistering it", name, self.node_id)
                out.append(DeregisterNode(name, now))
        if node is None or any(node.get(k) != mine[k] for k in ("ID", "Address", "Datacenter", "Meta")):
            out.append(
                RegisterNode(self.node, self.node_id, mine["Address"], mine["Datacenter"], dict(self.config.node_meta))
            )
        have_services = self.state.services.get(self.node, {})
        want_services = self.local.services.get(self.node, {})
        for sid, svc in want_services.items():
            if sid not in have_services or not _same_service(have_services[sid], svc):
                clean = {k: v for k, v in svc.items() if k not in ("CreateIndex", "ModifyIndex")}
                out.append(RegisterService(self.node, clean))
        have_checks = self.state.checks.get(self.node, {})
        want_checks = self.local.checks.get(self.node, {})
        for cid in have_checks:
            if cid != SERF_CHECK and cid not in want_checks:
                out.append(DeregisterCheck(self.node, cid, now))
        for sid in have_services:
            if sid not in want_services:
                out.append(DeregisterService(self.node, sid, now))
        for cid, check in want_checks.items():
            if cid == SERF_CHECK:
                continue
            have = have_checks.get(cid)
            if have is None or any(
                have.get(k) != check.get(k) for k in ("Name", "Notes", "ServiceID", "Type", "Definition")
            ):
                out.append(RegisterCheck(self.node, check_definition(check)))
            elif (have["Status"], have["Output"]) != (check["Status"], check["Output"]):
                out.append(UpdateCheck(self.node, cid, check["Status"], check["Output"], now))
        return out

    def _seed_fresh_checks(self) -> None:
        """A check restored at start keeps the status the catalog has for it until its runner reports."""
        have = self.state.checks.get(self.node, {})
        for cid in list(self._fresh_checks):
            mine = self.local.checks.get(self.node, {}).get(cid)
            theirs = have.get(cid)
            self._fresh_checks.discard(cid)
            if mine is None or theirs is None:
                continue
            if not _same_check({**theirs, "Status": "", "Output": ""}, {**mine, "Status": "", "Output": ""}):
                continue
            self.local.apply(UpdateCheck(self.node, cid, theirs["Status"], theirs["Output"], time.time()))

    async def _sync_once(self) -> None:
        if not self.cluster.caught_up.is_set():
            await within(self.cluster.caught_up.wait(), self.timing.hold)
        self._seed_fresh_checks()
        for cmd in self._diff():
            try:
                await self.submit(cmd)
            except CommandError as exc:
                if exc.status >= 500:
                    raise
                log.warning("anti-entropy: %s refused: %s", cmd.kind, exc.message)
        self._synced.set()

    async def _anti_entropy(self) -> None:
        backoff = 0.2
        while True:
            await wait_event(self._sync_wanted, SYNC_INTERVAL)
            self._sync_wanted.clear()
            try:
                await self._sync_once()
                backoff = 0.2
            except (CommandError, TimeoutError) as exc:
                log.debug("anti-entropy: %s", getattr(exc, "message", exc) or "timed out")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._sync_wanted.set()
            except Exception:
                log.exception("anti-entropy failed")
                await asyncio.sleep(1.0)

    # -- persisted local registrations -----------------------------------------------------------------------------

    def _local_commands(self) -> list[Command]:
        """Commands that rebuild what was registered through the HTTP API (config files are read again)."""
        out: list[Command] = []
        checks = self.local.checks.get(self.node, {})
        for svc in self.local.services.get(self.node, {}).values():
            if svc.get(CONFIG_SOURCE):
                continue
            own = [_fresh(check_definition(c)) for c in checks.values() if c["ServiceID"] == svc["ID"]]
            clean = {k: v for k, v in svc.items() if k not in ("CreateIndex", "ModifyIndex")}
            out.append(RegisterService(self.node, clean, tuple(own), True))
        for check in checks.values():
            if not check["ServiceID"] and check["CheckID"] != SERF_CHECK and not check["Definition"].get(CONFIG_SOURCE):
                out.append(RegisterCheck(self.node, _fresh(check_definition(check))))
        return out

    def _save_local(self) -> None:
        if self.config.data_dir is None or self.config.dev:
            return
        payload = json.dumps({"commands": [c.to_json() for c in self._local_commands()]}, separators=(",", ":"))
        write_atomic(self.config.data_dir / LOCAL_STATE, payload + "\n", mode=FILE_MODE)

    def _load_local(self) -> None:
        if self.config.data_dir is None or self.config.dev:
            return
        path = self.config.data_dir / LOCAL_STATE
        if not path.exists():
            return
        try:
            data = json.loads(path.read_bytes())
            cmds = [Command.from_json(c) for c in data["commands"]]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise DataDirCorrupt(f"unreadable ({type(exc).__name__}: {exc}); refusing to start", str(path)) from None
        for cmd in cmds:
            try:
                self.local.apply(cmd)
            except CommandError as exc:
                log.warning("%s: %s not restored: %s", path, cmd.kind, exc.message)
                continue
            if isinstance(cmd, RegisterService):
                self._fresh_checks.update(c["CheckID"] for c in cmd.checks)
            elif isinstance(cmd, RegisterCheck):
                self._fresh_checks.add(cmd.check["CheckID"])

    # -- configuration -------------------------------------------------------------------------------------------

    def _apply_config_definitions(self) -> None:
        wanted_services = set()
        for svc, checks in self.config.services:
            wanted_services.add(svc["ID"])
            self.register_service(svc, checks, replace_checks=True, source="config")
        wanted_checks = set()
        for check in self.config.checks:
            wanted_checks.add(check["CheckID"])
            self.register_check(check, source="config")
        for sid, svc in list(self.local.services.get(self.node, {}).items()):
            if svc.get(CONFIG_SOURCE) == "config" and sid not in wanted_services:
                self.deregister_service(sid)
        for cid, check in list(self.local.checks.get(self.node, {}).items()):
            if (
                check["Definition"].get(CONFIG_SOURCE) == "config"
                and not check["ServiceID"]
                and cid not in wanted_checks
            ):
                self.deregister_check(cid)

    async def reload(self) -> None:
        """Read the config again as at start (`consul reload`): the config dirs and files, then the flags. New
        and changed definitions apply, removed ones go. An agent given its config without a source (tests)
        applies that config again."""
        fresh = self.source.load() if self.source is not None else self.config
        self._warn_about_scripts(fresh)
        self.config.services = fresh.services
        self.config.checks = fresh.checks
        self.config.dns = fresh.dns
        self.config.enable_script_checks = fresh.enable_script_checks
        self.config.enable_local_script_checks = fresh.enable_local_script_checks
        self.config.watches = fresh.watches
        if self._dns is not None:
            self._dns.set_settings(self.dns_settings(fresh.dns))
        self._apply_config_definitions()
        await self.sync_now()
        await self._restart_watches()

    async def _restart_watches(self) -> None:
        for watch in self._watches:
            await watch.stop()
        self._watches = [watch_from_config(w, self.http_address) for w in self.config.watches]
        for watch in self._watches:
            watch.start()

    # -- gossip --------------------------------------------------------------------------------------------------

    def _member_changed(self, member: Member) -> None:
        changed = getattr(self.cluster, "member_changed", None)
        if changed is not None:
            changed(member)

    def _tags(self) -> dict[str, str]:
        tags = {
            "acls": "0",
            "build": f"{VERSION}:gitlab-ha",
            "dc": self.config.datacenter,
            "id": self.node_id,
            "role": "consul" if self.config.server else "node",
            "segment": "",
            "vsn": "2",
            "vsn_max": "3",
            "vsn_min": "2",
        }
        if self.config.server:
            tags["port"] = str(self.rpc.port if self.rpc is not None else self.config.server_port)
            tags["expect"] = str(self.config.bootstrap_expect)
            if self.config.bootstrap_expect == 1:
                tags["bootstrap"] = "1"
        return tags

    async def _join(self) -> None:
        """retry_join: until one address answers (then gossip keeps us in), every retry_interval."""
        addresses = self.config.retry_join
        attempt = 0
        while True:
            attempt += 1
            answered = await self.gossip.join(addresses)
            if answered:
                log.info("joined the cluster through %d of %s", answered, ", ".join(addresses))
                return
            if self.config.retry_max and attempt >= self.config.retry_max:
                log.error("could not join %s after %d attempts", ", ".join(addresses), attempt)
                return
            if attempt == 1 or attempt % 10 == 0:
                log.warning("join %s: no answer yet (attempt %d); retrying", ", ".join(addresses), attempt)
            await asyncio.sleep(self.config.retry_interval)

    def dns_settings(self, dns: DNSConfig) -> Settings:
        return Settings(
            domain=self.config.domain,
            datacenter=self.config.datacenter,
            service_ttl=int(dns.service_ttl),
            node_ttl=int(dns.node_ttl),
            only_passing=dns.only_passing,
            udp_answer_limit=dns.udp_answer_limit,
            ns_address=self.config.address,
        )

    # -- API views -----------------------------------------------------------------------------------------------

    @property
    def http_address(self) -> str:
        host = self.config.client_addr.split()[0]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if self.http_port < 0:
            return f"https://{host}:{self.https_port}"
        return f"http://{host}:{self.http_port}"

    def member_json(self, member: Member) -> JSON:
        return {
            "Name": member.name,
            "Addr": member.addr,
            "Port": member.port,
            "Tags": dict(member.tags),
            "Status": member.status,
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 4,
        }

    def member_info(self) -> JSON:
        return self.member_json(self.gossip.me)

    def members(self) -> list[JSON]:
        return [self.member_json(m) for m in sorted(self.gossip.members.values(), key=lambda m: m.name)]

    async def status(self) -> tuple[str, list[str]]:
        """(leader RPC address or "", voters' RPC addresses), as /v1/status/leader and /peers answer."""
        return await self.cluster.status()

    def self_info(self) -> JSON:
        return {
            "Config": {
                "Datacenter": self.config.datacenter,
                "PrimaryDatacenter": self.config.datacenter,
                "NodeName": self.node,
                "NodeID": self.node_id,
                "Revision": "gitlab-ha",
                "Server": self.config.server,
                "Version": VERSION,
            },
            "DebugConfig": {
                "SessionTTLMin": int(self.config.session_ttl_min * 1e9),
                "EnableScriptChecks": self.config.enable_script_checks,
                "EnableLocalScriptChecks": self.config.enable_script_checks or self.config.enable_local_script_checks,
                "DNSDomain": self.config.domain,
                "DNSOnlyPassing": self.config.dns.only_passing,
                "BootstrapExpect": self.config.bootstrap_expect,
                "RaftMultiplier": self.config.raft_multiplier,
                "RetryJoinLAN": list(self.config.retry_join),
                "EncryptVerifyIncoming": self.config.encrypt_verify_incoming,
                "EncryptVerifyOutgoing": self.config.encrypt_verify_outgoing,
            },
            "Coord": None,
            "Member": self.member_info(),
            "Stats": {"consul": self.cluster.stats()},
            "Meta": self.config.node_meta,
        }

    # -- life cycle ----------------------------------------------------------------------------------------------

    @staticmethod
    def _warn_about_scripts(config: AgentConfig) -> None:
        warning = script_checks_warning(config)
        if warning is not None:
            log.warning("DANGER: %s", warning)

    async def start(self) -> None:
        self._warn_about_scripts(self.config)
        self.local.apply(
            RegisterNode(
                self.node, self.node_id, self.config.address, self.config.datacenter, dict(self.config.node_meta)
            )
        )
        self._load_local()
        if self.rpc is not None:
            await self.rpc.start(self.config.bind_addr, self.config.server_port)
        if self.config.server:
            # Consul servers list themselves as the `consul` service (not an agent-local service)
            consul_service: JSON = {
                "ID": "consul", "Service": "consul", "Tags": [], "Address": "", "Port": self.rpc.port if self.rpc else 0,
                "Meta": {}, "EnableTagOverride": False, "Weights": {"Passing": 1, "Warning": 1}, CONFIG_SOURCE: "server",
            }  # fmt: skip
            self.local.apply(RegisterService(self.node, consul_service))
        self._apply_config_definitions()
        self.gossip.me.tags = self._tags()
        await self.gossip.start()
        await self.cluster.start()
        await self.checks.start()
        self._tasks.append(asyncio.create_task(self._anti_entropy()))
        if self.config.retry_join:
            self._tasks.append(asyncio.create_task(self._join()))
        api = API(self)
        guard = ConnectionGuard()
        api.app.middlewares.append(guard.middleware)
        self._runner = web.AppRunner(
            api.app, access_log=None, handle_signals=False, shutdown_timeout=2.0, keepalive_timeout=IDLE_TIMEOUT
        )
        await self._runner.setup()
        hosts = self.config.client_addr.split() or ["127.0.0.1"]
        for host in hosts:
            if self.http_port >= 0:
                site = GuardedSite(self._runner, host, self.http_port, guard)
                await site.start()
                self.http_port = site.port
            if self.https_port >= 0:
                tls = self.config.tls
                context = server_context(tls, verify_incoming=tls.verify_incoming_https)
                site = GuardedSite(self._runner, host, self.https_port, guard, ssl_context=context)
                await site.start()
                self.https_port = site.port
        if self.dns_port >= 0:  # UDP and TCP on every client address; port 0 picks one port for them all
            level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
            self._dns = DNSService(
                self.zone_sync,
                self.dns_settings(self.config.dns),
                hosts,
                self.dns_port,
                workers=self.config.dns.workers,
                level=level,
            )
            await self._dns.start()
            self.dns_port = self._dns.port
        if self.config.server and self.config.bootstrap_expect == 1 and not self.config.retry_join:
            # a standalone server: the catalog holds this node before the agent says it is running
            await wait_event(self._synced, 10.0)
        await self._restart_watches()
        log.info(
            "agent %s (%s): HTTP %s, DNS %s, gossip %s:%d%s",
            self.node,
            "server" if self.config.server else "client",
            ", ".join(f"{h}:{self.http_port}" for h in hosts),
            ", ".join(f"{h}:{self.dns_port}" for h in hosts) if self._dns else "off",
            self.config.bind_addr,
            self.gossip.port,
            f", RPC {self.config.bind_addr}:{self.rpc.port}" if self.rpc is not None else "",
        )

    async def stop(self) -> None:
        self.closing = True
        self._wake()  # blocking queries answer now instead of holding the shutdown
        if self.leaving:
            await self.gossip.leave()
        for watch in self._watches:
            await watch.stop()
        await cancel_and_wait(self._tasks)
        await self.checks.close()
        if self._dns is not None:
            await self._dns.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.cluster.stop()
        if self.rpc is not None:
            await self.rpc.close()
        await self.gossip.stop()
        self.pool.close()
        self.store.close()

    async def run_forever(self, ready: Any = None) -> None:
        loop = asyncio.get_running_loop()
        quiet_resource_errors(loop)
        loop.add_signal_handler(signal.SIGINT, self._signalled, signal.SIGINT)
        loop.add_signal_handler(signal.SIGTERM, self._signalled, signal.SIGTERM)
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_logged()))
        await self.start()
        if ready is not None:
            ready()
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

    def _signalled(self, sig: int) -> None:
        # Consul: clients leave on SIGTERM (leave_on_terminate) and SIGINT (skip_leave_on_interrupt false);
        # servers do neither by default, so a stopped server is a failed member until it is back.
        if sig == signal.SIGTERM:
            self.leaving = bool(self.config.leave_on_terminate)
        else:
            self.leaving = not self.config.skip_leave_on_interrupt
        self._stopped.set()

    def request_stop(self, *, leave: bool = False) -> None:
        self.leaving = leave
        self._stopped.set()

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception as exc:
            log.error("reload failed: %s", exc)


def _fresh(definition: JSON) -> JSON:
    """A persisted check definition without the status it had (the catalog's or the runner's comes back)."""
    out = {k: v for k, v in definition.items() if k not in ("Status", "Output")}
    return out
