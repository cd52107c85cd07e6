"""The agent: one state machine, its durable store, the check runners, session timers, HTTP, DNS, watches.

Everything that changes the state goes through `Agent.submit(command)`: the store logs it durably,
applies it, and the agent then wakes blocking queries and keeps the check runners in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from gitlab_ha.discovery.checks import CheckManager
from gitlab_ha.discovery.config import (
    AgentConfig,
    DNSConfig,
    check_script_rule,
    load_config_dir,
    script_checks_allowed,
    script_checks_warning,
)
from gitlab_ha.discovery.dns import Settings
from gitlab_ha.discovery.dns_server import DNSService, ZoneSync
from gitlab_ha.discovery.http_api import API
from gitlab_ha.discovery.http_server import IDLE_TIMEOUT, ConnectionGuard, GuardedSite, quiet_resource_errors
from gitlab_ha.discovery.persist import Store
from gitlab_ha.discovery.state import (
    JSON,
    Command,
    DeregisterCheck,
    DeregisterNode,
    DeregisterService,
    RegisterCheck,
    RegisterNode,
    RegisterService,
    SessionCreate,
    SessionDestroy,
    State,
)
from gitlab_ha.discovery.watches import WatchRunner, watch_from_config
from gitlab_ha.fsutil import write_atomic

log = logging.getLogger("gitlab_ha.discovery.agent")

VERSION = "1.18.0"  # the Consul HTTP API level this agent follows
SESSION_TTL_MULTIPLIER = 2.0  # Consul lets a session live up to twice its TTL
CONFIG_SOURCE = "_source"


class Agent:
    def __init__(self, config: AgentConfig, config_dirs: list[Path] | None = None) -> None:
        self.config = config
        self.config_dirs = list(config_dirs or [])
        self.store = Store(None if config.dev else config.data_dir)
        self.node = config.node_name
        self.node_id = self._node_id()
        self.checks = CheckManager(self.node, self.state, self.submit, update_interval=config.check_update_interval)
        self.changed = asyncio.Event()
        self._session_deadline: dict[str, float] = {}
        self._runner: web.AppRunner | None = None
        self._dns: DNSService | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._watches: list[WatchRunner] = []
        self.http_port = config.http_port
        self.dns_port = config.dns_port
        self.zone_sync = ZoneSync(self.state)
        self._stopped = asyncio.Event()
        self.closing = False

    @property
    def state(self) -> State:
        return self.store.state

    def _node_id(self) -> str:
        if self.config.data_dir is None or self.config.dev:
            return str(uuid.uuid4())
        path = self.config.data_dir / "node-id"
        if path.exists():
            return path.read_text().strip()
        node_id = str(uuid.uuid4())
        write_atomic(path, node_id + "\n")
        return node_id

    # -- the one way to change state -----------------------------------------------------------------------------

    def submit(self, cmd: Command) -> Any:
        result = self.store.submit(cmd)
        update = self.zone_sync.after(cmd)
        if self._dns is not None:
            self._dns.changed(update)  # before the change is acknowledged: a later query sees it
        if isinstance(cmd, RegisterService | DeregisterService | RegisterCheck | DeregisterCheck | RegisterNode):
            self.checks.sync()
        if isinstance(cmd, SessionCreate) and cmd.ttl > 0:
            self._session_deadline[cmd.session_id] = time.monotonic() + cmd.ttl * SESSION_TTL_MULTIPLIER
        for sid in [s for s in self._session_deadline if s not in self.state.sessions]:
            del self._session_deadline[sid]
        self._wake()
        return result

    def _wake(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    # -- services, checks, sessions ------------------------------------------------------------------------------

    def _scripts_allowed(self, source: str) -> bool:
        """Remote (HTTP API) script checks need enable_script_checks; config-file ones either setting."""
        local = source == "config" and self.config.enable_local_script_checks
        return self.config.enable_script_checks or local

    def register_service(
        self, svc: JSON, checks: list[JSON], *, replace_checks: bool = False, source: str = ""
    ) -> None:
        script_checks_allowed(self._scripts_allowed(source), checks)
        if source:
            svc = {**svc, CONFIG_SOURCE: source}
        self.submit(RegisterService(self.node, svc, tuple(checks), replace_checks))

    def register_check(self, check: JSON, *, source: str = "") -> None:
        script_checks_allowed(self._scripts_allowed(source), [check])
        if source:
            check = {**check, CONFIG_SOURCE: source}
        self.submit(RegisterCheck(self.node, check))

    def ttl_update(self, check_id: str) -> None:
        """A pass/warn/fail arrived for a TTL check: its timer starts again."""
        self.checks.ttl_update(check_id)

    def create_session(self, cmd: SessionCreate) -> str:
        result: str = self.submit(cmd)
        return result

    def renew_session(self, session_id: str) -> bool:
        session = self.state.sessions.get(session_id)
        if session is None:
            return False
        if session["TTL"]:
            ttl = float(session["TTL"].rstrip("s"))
            self._session_deadline[session_id] = time.monotonic() + ttl * SESSION_TTL_MULTIPLIER
        return True

    async def _expire_sessions(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for sid, deadline in list(self._session_deadline.items()):
                if deadline <= now and sid in self.state.sessions:
                    log.info("session %s expired", sid)
                    self.submit(SessionDestroy(sid, time.time()))

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
        for sid, svc in list(self.state.services.get(self.node, {}).items()):
            if svc.get(CONFIG_SOURCE) == "config" and sid not in wanted_services:
                self.submit(DeregisterService(self.node, sid, time.time()))
        for cid, check in list(self.state.checks.get(self.node, {}).items()):
            if (
                check["Definition"].get(CONFIG_SOURCE) == "config"
                and not check["ServiceID"]
                and cid not in wanted_checks
            ):
                self.submit(DeregisterCheck(self.node, cid, time.time()))

    async def reload(self) -> None:
        """Read the config dirs again (as `consul reload`): new and changed definitions apply, removed ones go."""
        fresh = AgentConfig(
            node_name=self.config.node_name,
            datacenter=self.config.datacenter,
            domain=self.config.domain,
            data_dir=self.config.data_dir,
            bind_addr=self.config.bind_addr,
            client_addr=self.config.client_addr,
            advertise_addr=self.config.advertise_addr,
            http_port=self.config.http_port,
            dns_port=self.config.dns_port,
            dev=self.config.dev,
            enable_script_checks=self.config.enable_script_checks,
            enable_local_script_checks=self.config.enable_local_script_checks,
        )
        fresh = load_config_dir(self.config_dirs, fresh) if self.config_dirs else fresh
        check_script_rule(fresh)
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
        await self._restart_watches()

    async def _restart_watches(self) -> None:
        for watch in self._watches:
            await watch.stop()
        self._watches = [watch_from_config(w, self.http_address) for w in self.config.watches]
        for watch in self._watches:
            watch.start()

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
        return f"http://{host}:{self.http_port}"

    def member_info(self) -> JSON:
        return {
            "Name": self.node,
            "Addr": self.config.address,
            "Port": self.config.serf_lan_port,
            "Tags": {
                "acls": "0",
                "build": f"{VERSION}:gitlab-ha",
                "dc": self.config.datacenter,
                "id": self.node_id,
                "port": str(self.config.server_port),
                "role": "consul" if self.config.server else "node",
                "segment": "",
                "vsn": "2",
                "vsn_max": "3",
                "vsn_min": "2",
                "bootstrap": "1",
            },
            "Status": 1,
            "ProtocolMin": 1,
            "ProtocolMax": 5,
            "ProtocolCur": 2,
            "DelegateMin": 2,
            "DelegateMax": 5,
            "DelegateCur": 4,
        }

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
                "DNSDomain": self.config.domain,
                "DNSOnlyPassing": self.config.dns.only_passing,
            },
            "Coord": None,
            "Member": self.member_info(),
            "Stats": {
                "consul": {"server": str(self.config.server).lower(), "leader": "true", "known_datacenters": "1"}
            },
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
        if self.config.dev and self.config.data_dir is not None:
            log.warning("-dev keeps the state in memory: data_dir %s is not used", self.config.data_dir)
        # Restarted on the same data dir under another -node name: the node ID is the same, and Consul
        # would not keep two nodes with one ID. The old name (and its services, checks, sessions) goes.
        for name, node in sorted(self.state.nodes.items()):
            if name != self.node and node["ID"] == self.node_id:
                log.info("node %s carries this agent's node ID %s: deregistering it", name, self.node_id)
                self.submit(DeregisterNode(name, time.time()))
        self.submit(
            RegisterNode(
                self.node, self.node_id, self.config.address, self.config.datacenter, dict(self.config.node_meta)
            )
        )
        if self.config.server:
            # Consul servers list themselves as the `consul` service (not an agent-local service)
            consul_service: JSON = {
                "ID": "consul", "Service": "consul", "Tags": [], "Address": "", "Port": self.config.server_port,
                "Meta": {}, "EnableTagOverride": False, "Weights": {"Passing": 1, "Warning": 1}, CONFIG_SOURCE: "server",
            }  # fmt: skip
            self.submit(RegisterService(self.node, consul_service))
        self._apply_config_definitions()
        now = time.monotonic()
        for sid, session in self.state.sessions.items():
            if session["TTL"]:
                # as after a Consul leader election, surviving sessions get a full TTL again
                self._session_deadline[sid] = now + float(session["TTL"].rstrip("s")) * SESSION_TTL_MULTIPLIER
        await self.checks.start()
        self._tasks.append(asyncio.create_task(self._expire_sessions()))
        api = API(self)
        guard = ConnectionGuard()
        api.app.middlewares.append(guard.middleware)
        self._runner = web.AppRunner(
            api.app, access_log=None, handle_signals=False, shutdown_timeout=2.0, keepalive_timeout=IDLE_TIMEOUT
        )
        await self._runner.setup()
        hosts = self.config.client_addr.split() or ["127.0.0.1"]
        for host in hosts:
            site = GuardedSite(self._runner, host, self.http_port, guard)
            await site.start()
            self.http_port = site.port
        if self.dns_port >= 0:  # UDP and TCP on every client address; port 0 picks one port for them all
            level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
            self._dns = DNSService(
                self.zone_sync, self.dns_settings(self.config.dns), hosts, self.dns_port, level=level
            )
            await self._dns.start()
            self.dns_port = self._dns.port
        await self._restart_watches()
        log.info(
            "agent %s: HTTP %s, DNS %s",
            self.node,
            ", ".join(f"{h}:{self.http_port}" for h in hosts),
            ", ".join(f"{h}:{self.dns_port}" for h in hosts) if self._dns else "off",
        )

    async def stop(self) -> None:
        self.closing = True
        self._wake()  # blocking queries answer now instead of holding the shutdown
        for watch in self._watches:
            await watch.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.checks.close()
        if self._dns is not None:
            await self._dns.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.store.close()

    async def run_forever(self, ready: Any = None) -> None:
        loop = asyncio.get_running_loop()
        quiet_resource_errors(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopped.set)
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_logged()))
        await self.start()
        if ready is not None:
            ready()
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stopped.set()

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception as exc:
            log.error("reload failed: %s", exc)
