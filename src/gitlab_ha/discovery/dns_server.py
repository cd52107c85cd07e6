"""DNS served off the agent's event loop, on every core: one worker process per CPU, each with its own
UDP and TCP sockets on the DNS port (`SO_REUSEPORT`, so the kernel spreads clients over them).

The agent keeps a `Zone` in step with its state (`ZoneSync`: after each catalog command it recomputes
only what that command touched) and writes each change, one JSON line, to every worker's stdin before
the command is acknowledged. A worker reads everything pending on its stdin before it answers a batch of
packets, so a query sent after an acknowledged change (a registration, a check turning critical) sees it.
A worker answers from replies cached whole per query until its zone changes.

Workers run `python -m gitlab_ha.discovery.dns_server HOSTS PORT LEVEL`, started and stopped through
`gitlab_ha.proc`; one that dies is replaced; all exit when the agent's end of their stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import socket
import struct
import sys
from typing import Any

from gitlab_ha.discovery.dns import UDP_MAX, Instance, Resolver, Settings, Zone
from gitlab_ha.discovery.ratelog import RateLimitedLog
from gitlab_ha.discovery.state import (
    CATALOG_COMMANDS,
    Command,
    DeregisterService,
    RegisterCheck,
    RegisterService,
    State,
    UpdateCheck,
)
from gitlab_ha.discovery.waits import cancel_and_wait, within
from gitlab_ha.proc import PIPE, AsyncProcess

log = logging.getLogger("gitlab_ha.discovery.dns")

TCP_IDLE = 10.0  # a TCP client that sends nothing for this long is closed
TCP_CONNECTIONS_MAX = 256  # per worker; above it a new connection is closed at once
UDP_BATCH = 256  # datagrams answered per wake-up before other sockets get their turn
READY_DEADLINE = 30.0
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = 1031
WORKERS_MAX = 16

_WORST = {"passing": 0, "warning": 1, "critical": 2}


# --- the agent's side -------------------------------------------------------------------------------------------


class ZoneSync:
    """A Zone kept equal to what DNS shows of `state`; `after(cmd)` gives the update a command made."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.zone = Zone()
        self._by_node: dict[str, set[str]] = {}

    def snapshot(self) -> dict[str, Any]:
        """The whole zone as one update (for a worker that starts empty)."""
        return {
            "nodes": dict(self.zone.nodes),
            "instances": [[node, sid, inst.to_json()] for (node, sid), inst in self.zone.instances.items()],
            "index": self.zone.index,
        }

    def refresh_all(self) -> dict[str, Any] | None:
        nodes = set(self.state.nodes) | set(self.zone.nodes)
        return self._update(nodes, {node: None for node in nodes})

    def after(self, cmd: Command) -> dict[str, Any] | None:
        """The update `cmd` made to the zone (None: nothing DNS shows changed)."""
        if not isinstance(cmd, CATALOG_COMMANDS):
            return None
        only: str | None = None
        if isinstance(cmd, RegisterService):
            only = str(cmd.service.get("ID") or cmd.service.get("Service") or "") or None
        elif isinstance(cmd, DeregisterService):
            only = cmd.service_id
        elif isinstance(cmd, RegisterCheck):
            only = str(cmd.check.get("ServiceID") or "") or None
        elif isinstance(cmd, UpdateCheck):
            check = self.state.checks.get(cmd.node, {}).get(cmd.check_id)
            only = str(check["ServiceID"]) or None if check is not None else None
        return self._update({cmd.node}, {cmd.node: only})

    def _update(self, nodes: set[str], only: dict[str, str | None]) -> dict[str, Any] | None:
        node_changes: dict[str, str | None] = {}
        changes: list[list[Any]] = []
        for node in sorted(nodes):
            record = self.state.nodes.get(node)
            address = record["Address"] if record is not None else None
            if self.zone.nodes.get(node) != address:
                node_changes[node] = address
            fresh = self._instances(node, only.get(node))
            keys = set(fresh) if only.get(node) is not None else set(fresh) | self._by_node.get(node, set())
            if only.get(node) is not None:
                keys.add(str(only[node]))
            for sid in sorted(keys):
                new = fresh.get(sid)
                if self.zone.instances.get((node, sid)) != new:
                    changes.append([node, sid, new.to_json() if new is not None else None])
        if not node_changes and not changes:
            return None
        update = {"nodes": node_changes, "instances": changes, "index": self.state.index}
        self.zone.apply(update)
        for node, sid, raw in changes:
            if raw is None:
                self._by_node.get(node, set()).discard(sid)
            else:
                self._by_node.setdefault(node, set()).add(sid)
        return update

    def _instances(self, node: str, only: str | None) -> dict[str, Instance]:
        services = self.state.services.get(node, {})
        if only is not None:
            services = {only: services[only]} if only in services else {}
        worst: dict[str, int] = {}
        for check in self.state.checks.get(node, {}).values():
            sid = check["ServiceID"]
            if not sid or sid in services:
                worst[sid] = max(worst.get(sid, 0), _WORST.get(check["Status"], 2))
        names = ("passing", "warning", "critical")
        return {
            sid: Instance(
                svc["Service"],
                tuple(svc["Tags"]),
                svc["Address"],
                int(svc["Port"]),
                names[max(worst.get("", 0), worst.get(sid, 0))],
            )
            for sid, svc in services.items()
        }


def settings_json(settings: Settings) -> dict[str, Any]:
    return dict(vars(settings))


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET


class DNSService:
    """The worker processes serving DNS on `hosts` at `port` (0: any free port, the same on every host)."""

    def __init__(
        self, sync: ZoneSync, settings: Settings, hosts: list[str], port: int, *, workers: int = 0, level: str = "info"
    ) -> None:
        self.sync = sync
        self.settings = settings
        self.hosts = hosts
        self.port = port
        self.count = workers or min(WORKERS_MAX, len(os.sched_getaffinity(0)))
        self.level = level
        self._workers: list[AsyncProcess] = []
        self._watchers: list[asyncio.Task[None]] = []
        self.closing = False

    async def start(self) -> None:
        reserved = self._reserve()
        try:
            for _ in range(self.count):
                await self._spawn()
        finally:
            for sock in reserved:
                sock.close()

    def _reserve(self) -> list[socket.socket]:
        """Hold the port (TCP and UDP on every host) while the workers bind it beside us; with port 0
        the first TCP socket picks the number. A socket without SO_REUSEPORT first makes sure nobody else
        holds it (a second agent on the same port must fail, not share the traffic)."""
        reserved: list[socket.socket] = []
        try:
            for host in self.hosts:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(_family(host), kind) as probe:
                        probe.bind((host, self.port))
                        port = probe.getsockname()[1]
                    sock = socket.socket(_family(host), kind)
                    reserved.append(sock)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    sock.bind((host, port))
                    self.port = port
        except OSError:
            for sock in reserved:
                sock.close()
            raise
        return reserved

    async def _spawn(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "gitlab_ha.discovery.dns_server",
            ",".join(self.hosts),
            str(self.port),
            self.level,
        ]
        worker = await AsyncProcess.spawn(argv, stdin=PIPE, stdout=PIPE)
        stdin, stdout = worker.proc.stdin, worker.proc.stdout
        assert stdin is not None and stdout is not None
        pipe = stdin.transport.get_extra_info("pipe")
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
        self.changed(self.sync.refresh_all())  # state the mirror has not seen yet (restored from the data dir)
        self._workers.append(worker)
        self._write(worker, {"settings": settings_json(self.settings), "zone": self.sync.snapshot()})
        try:
            line = await within(stdout.readline(), READY_DEADLINE)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            self._workers.remove(worker)
            await worker.stop(grace=1)
            raise OSError(f"DNS worker could not serve {','.join(self.hosts)}:{self.port}: {line.decode().strip()}")
        self._watchers.append(asyncio.create_task(self._watch(worker)))

    async def _watch(self, worker: AsyncProcess) -> None:
        code = await worker.wait()
        if worker in self._workers:
            self._workers.remove(worker)
        if self.closing:
            return
        log.warning("DNS worker pid %d exited with code %s; starting another", worker.pid, code)
        await asyncio.sleep(1.0)  # a worker that dies at once must not spin
        if not self.closing:
            try:
                await self._spawn()
            except OSError as exc:
                log.error("%s", exc)

    def _write(self, worker: AsyncProcess, message: dict[str, Any]) -> None:
        stdin = worker.proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def send(self, message: dict[str, Any]) -> None:
        for worker in list(self._workers):
            self._write(worker, message)

    def changed(self, update: dict[str, Any] | None) -> None:
        if update is not None:
            self.send({"zone": update})

    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.send({"settings": settings_json(settings)})

    async def close(self) -> None:
        self.closing = True
        for worker in list(self._workers):
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        for worker in list(self._workers):
            await worker.stop(grace=2)
        await cancel_and_wait(self._watchers)


# --- a worker process -------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, hosts: list[str], port: int) -> None:
        self.hosts = hosts
        self.port = port
        self.zone = Zone()
        self.resolver = Resolver(self.zone, Settings())
        self._pending = bytearray()
        self.done = asyncio.Event()
        self._tcp_clients = 0
        self.trouble = RateLimitedLog(log)

    def poll(self) -> None:
        """Apply every change the agent has written so far (never blocks)."""
        while True:
            try:
                chunk = os.read(0, PIPE_SIZE)
            except BlockingIOError:
                break
            if not chunk:
                self.done.set()
                break
            self._pending += chunk
        while (end := self._pending.find(b"\n")) >= 0:
            message = json.loads(self._pending[:end])
            del self._pending[: end + 1]
            if "settings" in message:
                self.resolver.set_settings(Settings(**message["settings"]))
            if "zone" in message:
                self.zone.apply(message["zone"])

    def _udp(self, sock: socket.socket) -> None:
        self.poll()
        receive, send, handle = sock.recvfrom, sock.sendto, self.resolver.handle
        for _ in range(UDP_BATCH):
            try:
                data, addr = receive(UDP_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.trouble.warning("udp-recv", "DNS: UDP receive failed: %s", exc)
                return
            reply = handle(data, udp=True)
            if reply is not None:
                try:  # noqa: SIM105 (per packet: a try costs nothing, contextlib.suppress a context manager)
                    send(reply, addr)
                except OSError:
                    pass  # the client is gone or its buffer full: as a lost datagram

    async def _tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_clients >= TCP_CONNECTIONS_MAX:
            self.trouble.warning("tcp-cap", "DNS: %d TCP clients already; closing new ones", self._tcp_clients)
            writer.close()
            return
        self._tcp_clients += 1
        try:
            while True:
                header = await within(reader.readexactly(2), TCP_IDLE)
                (length,) = struct.unpack("!H", header)
                data = await within(reader.readexactly(length), TCP_IDLE)
                self.poll()
                reply = self.resolver.handle(data, udp=False)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await within(writer.drain(), TCP_IDLE)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._tcp_clients -= 1
            writer.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        os.set_blocking(0, False)
        loop.add_reader(0, self.poll)
        servers = []
        sockets = []
        for host in self.hosts:
            sock = socket.socket(_family(host), socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, self.port))
            sock.setblocking(False)
            sockets.append(sock)
            loop.add_reader(sock.fileno(), self._udp, sock)
            servers.append(await asyncio.start_server(self._tcp, host, self.port, reuse_port=True, backlog=128))
        print("ready", flush=True)
        self.poll()
        await self.done.wait()
        for server in servers:
            server.close()
        for sock in sockets:
            loop.remove_reader(sock.fileno())
            sock.close()


def main(argv: list[str]) -> int:
    hosts, port, level = argv[0].split(","), int(argv[1]), argv[2] if len(argv) > 2 else "info"
    logging.basicConfig(
        level={"debug": logging.DEBUG, "warn": logging.WARNING, "error": logging.ERROR}.get(level, logging.INFO),
        stream=sys.stderr,
        format=f"%(asctime)s [%(levelname)s] %(name)s[{os.getpid()}]: %(message)s",
    )
    try:
        asyncio.run(Worker(hosts, port).run())
    except OSError as exc:
        print(f"{exc}", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
