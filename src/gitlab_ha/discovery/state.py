"""The state machine: every change is a command, applied in order, and nothing else mutates the state.

Commands are frozen dataclasses carrying everything they need (including the wall-clock time `at`
where time matters), so applying the same log to an empty state on any server gives the same state:
that is what the next step (replication between three servers) needs. Each applied command gets
the next global index (Consul's Raft index); tables and items carry `CreateIndex`/`ModifyIndex`,
and blocking queries compare those indexes.

A command that cannot apply raises `CommandError` before changing anything; one that applies but
whose condition fails (a CAS, a lock held by someone else) returns False.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

JSON = dict[str, Any]

SERF_CHECK = "serfHealth"
TOMBSTONES_MAX = 10_000


class CommandError(Exception):
    """A command or request refused; `status` is the HTTP status Consul answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --- commands ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    kind: ClassVar[str] = ""

    def to_json(self) -> JSON:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, bytes):
                data[key] = {"$b64": base64.b64encode(value).decode()}
        return {"kind": self.kind, **data}

    @staticmethod
    def from_json(data: JSON) -> Command:
        cls = COMMANDS[data["kind"]]
        kwargs: JSON = {}
        for f in fields(cls):
            if f.name not in data:
                continue  # a field added later keeps its default when an older log is replayed
            value = data[f.name]
            if isinstance(value, dict) and "$b64" in value and len(value) == 1:
                value = base64.b64decode(value["$b64"])
            elif isinstance(value, list) and f.name in _TUPLE_FIELDS:
                value = tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)


_TUPLE_FIELDS = {"checks", "node_checks", "service_checks"}


@dataclass(frozen=True)
class RegisterNode(Command):
    kind: ClassVar[str] = "register_node"
    node: str
    node_id: str
    address: str
    datacenter: str
    meta: JSON = field(default_factory=dict)
    agent: bool = True  # a node running an agent has serfHealth; one registered via the catalog has not
    tagged_addresses: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class DeregisterNode(Command):
    kind: ClassVar[str] = "deregister_node"
    node: str
    at: float = 0.0


@dataclass(frozen=True)
class RegisterService(Command):
    kind: ClassVar[str] = "register_service"
    node: str
    service: JSON
    checks: tuple[JSON, ...] = ()
    replace_checks: bool = False


@dataclass(frozen=True)
class DeregisterService(Command):
    kind: ClassVar[str] = "deregister_service"
    node: str
    service_id: str
    at: float = 0.0


@dataclass(frozen=True)
class RegisterCheck(Command):
    kind: ClassVar[str] = "register_check"
    node: str
    check: JSON


@dataclass(frozen=True)
class DeregisterCheck(Command):
    kind: ClassVar[str] = "deregister_check"
    node: str
    check_id: str
    at: float = 0.0


@dataclass(frozen=True)
class UpdateCheck(Command):
    kind: ClassVar[str] = "update_check"
    node: str
    check_id: str
    status: str
    output: str
    at: float = 0.0


@dataclass(frozen=True)
class KVSet(Command):
    kind: ClassVar[str] = "kv_set"
    key: str
    value: bytes
    flags: int = 0
    cas: int | None = None
    acquire: str | None = None
    release: str | None = None
    at: float = 0.0


@dataclass(frozen=True)
class KVDelete(Command):
    kind: ClassVar[str] = "kv_delete"
    key: str
    recurse: bool = False
    cas: int | None = None


@dataclass(frozen=True)
class SessionCreate(Command):
    kind: ClassVar[str] = "session_create"
    session_id: str
    name: str
    node: str
    node_checks: tuple[str, ...]
    service_checks: tuple[str, ...]
    lock_delay: float
    behavior: str
    ttl: float
    at: float = 0.0


@dataclass(frozen=True)
class SessionDestroy(Command):
    kind: ClassVar[str] = "session_destroy"
    session_id: str
    at: float = 0.0


@dataclass(frozen=True)
class Noop(Command):
    """What a new Raft leader appends to commit its predecessors' entries; changes nothing but the index."""

    kind: ClassVar[str] = "noop"


# The commands that change the catalog (nodes, services, checks), the only ones that change what DNS serves.
CATALOG_COMMANDS = (
    RegisterNode,
    DeregisterNode,
    RegisterService,
    DeregisterService,
    RegisterCheck,
    DeregisterCheck,
    UpdateCheck,
)
_ALL: tuple[type[Command], ...] = (Noop, *CATALOG_COMMANDS, KVSet, KVDelete, SessionCreate, SessionDestroy)
COMMANDS: dict[str, type[Command]] = {c.kind: c for c in _ALL}

# --- the state ---------------------------------------------------------------------------------------------------

TABLES = ("nodes", "services", "checks", "kvs", "sessions")


@dataclass
class State:
    index: int = 0
    tables: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    nodes: dict[str, JSON] = field(default_factory=dict)
    services: dict[str, dict[str, JSON]] = field(default_factory=dict)  # node -> service id -> service
    checks: dict[str, dict[str, JSON]] = field(default_factory=dict)  # node -> check id -> check
    service_index: dict[str, int] = field(default_factory=dict)  # service name -> last change
    kv: dict[str, JSON] = field(default_factory=dict)  # key -> entry (Value kept as bytes)
    kv_tombstones: dict[str, int] = field(default_factory=dict)  # deleted key -> index of deletion
    kv_tombstone_floor: int = 0  # highest index of a reaped tombstone
    lock_delay: dict[str, float] = field(default_factory=dict)  # key -> wall time until which acquire waits
    sessions: dict[str, JSON] = field(default_factory=dict)
    # Observers of every change: `listeners` after each applied command, `on_replace` after the whole
    # content was replaced (a snapshot installed or received). These two are the only ways state changes.
    listeners: list[Callable[[Command, int], None]] = field(default_factory=list, repr=False)
    on_replace: list[Callable[[], None]] = field(default_factory=list, repr=False)

    # -- applying ------------------------------------------------------------------------------------------------

    def apply(self, cmd: Command, index: int | None = None) -> Any:
        """Apply one command at `index` (the Raft log index; by default the next one).

        The index is consumed even when the command is refused (`CommandError`, raised before anything
        changed), as a Raft log entry is: every replica applies the same log to the same indexes.
        Listeners learn of each applied command afterwards.
        """
        idx = self.index + 1 if index is None else index
        if idx <= self.index:
            raise ValueError(f"index {idx} is not after {self.index}")
        handler = getattr(self, f"_apply_{cmd.kind}")
        try:
            result = handler(cmd, idx)
        finally:
            self.index = idx
        for listener in list(self.listeners):
            listener(cmd, idx)
        return result

    def _apply_noop(self, cmd: Noop, idx: int) -> None:
        return None

    def _touch(self, idx: int, *tables: str) -> None:
        for table in tables:
            self.tables[table] = idx

    def _touch_service(self, name: str, idx: int) -> None:
        if name:
            self.service_index[name] = idx

    def _touch_node_services(self, node: str, idx: int) -> None:
        for svc in self.services.get(node, {}).values():
            self._touch_service(svc["Service"], idx)

    def _apply_register_node(self, cmd: RegisterNode, idx: int) -> None:
        record: JSON = {
            "ID": cmd.node_id,
            "Node": cmd.node,
            "Address": cmd.address,
            "Datacenter": cmd.datacenter,
            "TaggedAddresses": cmd.tagged_addresses
            or {"lan": cmd.address, "lan_ipv4": cmd.address, "wan": cmd.address, "wan_ipv4": cmd.address},
            "Meta": {"consul-network-segment": "", **cmd.meta},
        }
        old = self.nodes.get(cmd.node)
        if old is None or any(old[k] != v for k, v in record.items()):
            record["CreateIndex"] = old["CreateIndex"] if old else idx
            record["ModifyIndex"] = idx
            self.nodes[cmd.node] = record
            self._touch(idx, "nodes")
            self._touch_node_services(cmd.node, idx)
        self.services.setdefault(cmd.node, {})
        self.checks.setdefault(cmd.node, {})
        if cmd.agent and SERF_CHECK not in self.checks[cmd.node]:
            self._put_check(
                cmd.node,
                {
                    "CheckID": SERF_CHECK,
                    "Name": "Serf Health Status",
                    "Status": "passing",
                    "Output": "Agent alive and reachable",
                    "Type": "",
                },
                idx,
            )

    def _apply_deregister_node(self, cmd: DeregisterNode, idx: int) -> None:
        self._require_node(cmd.node)
        self._touch_node_services(cmd.node, idx)
        for session_id, session in list(self.sessions.items()):
            if session["Node"] == cmd.node:
                self._invalidate_session(session_id, idx, cmd.at)
        del self.nodes[cmd.node]
        self.services.pop(cmd.node, None)
        self.checks.pop(cmd.node, None)
        self._touch(idx, "nodes", "services", "checks")

    def _require_node(self, node: str) -> None:
        if node not in self.nodes:
            raise CommandError(f"Unknown node {node!r}", 404)

    def _apply_register_service(self, cmd: RegisterService, idx: int) -> None:
        self._require_node(cmd.node)
        svc = {k: copy.deepcopy(v) for k, v in cmd.service.items() if k not in ("CreateIndex", "ModifyIndex")}
        services = self.services[cmd.node]
        old = services.get(svc["ID"])
        if old is None or any(old.get(k) != v for k, v in svc.items()):
            if old is not None and old["Service"] != svc["Service"]:
                self._touch_service(old["Service"], idx)
            svc["CreateIndex"] = old["CreateIndex"] if old else idx
            svc["ModifyIndex"] = idx
            services[svc["ID"]] = svc
            self._touch(idx, "services")
            self._touch_service(svc["Service"], idx)
            # the checks of this service carry its name and tags
            for check in self.checks[cmd.node].values():
                if check["ServiceID"] == svc["ID"] and (check["ServiceName"], check["ServiceTags"]) != (
                    svc["Service"],
                    svc["Tags"],
                ):
                    check["ServiceName"] = svc["Service"]
                    check["ServiceTags"] = list(svc["Tags"])
                    check["ModifyIndex"] = idx
                    self._touch(idx, "checks")
        wanted = {c["CheckID"] for c in cmd.checks}
        if cmd.replace_checks:
            for check_id, check in list(self.checks[cmd.node].items()):
                if check["ServiceID"] == svc["ID"] and check_id not in wanted:
                    self._drop_check(cmd.node, check_id, idx, 0.0)
        for check in cmd.checks:
            self._put_check(cmd.node, check, idx)

    def _apply_deregister_service(self, cmd: DeregisterService, idx: int) -> None:
        self._require_node(cmd.node)
        svc = self.services[cmd.node].pop(cmd.service_id, None)
        if svc is None:
            raise CommandError(
                f'Unknown service ID "{cmd.service_id}". Ensure that the service ID is passed, not the service name.',
                404,
            )
        self._touch(idx, "services")
        self._touch_service(svc["Service"], idx)
        for check_id, check in list(self.checks[cmd.node].items()):
            if check["ServiceID"] == cmd.service_id:
                self._drop_check(cmd.node, check_id, idx, cmd.at)

    def _apply_register_check(self, cmd: RegisterCheck, idx: int) -> None:
        self._require_node(cmd.node)
        service_id = cmd.check.get("ServiceID", "")
        if service_id and service_id not in self.services[cmd.node]:
            raise CommandError(f'ServiceID "{service_id}" does not exist', 400)
        self._put_check(cmd.node, cmd.check, idx)

    def _apply_deregister_check(self, cmd: DeregisterCheck, idx: int) -> None:
        self._require_node(cmd.node)
        if cmd.check_id not in self.checks[cmd.node]:
            raise CommandError(
                f'Unknown check ID "{cmd.check_id}". Ensure that the check ID is passed, not the check name.', 404
            )
        self._drop_check(cmd.node, cmd.check_id, idx, cmd.at)

    def _apply_update_check(self, cmd: UpdateCheck, idx: int) -> None:
        self._require_node(cmd.node)
        check = self.checks[cmd.node].get(cmd.check_id)
        if check is None:
            raise CommandError(
                f'Unknown check ID "{cmd.check_id}". Ensure that the check ID is passed, not the check name.', 404
            )
        if check["Status"] == cmd.status and check["Output"] == cmd.output:
            return
        check["Status"] = cmd.status
        check["Output"] = cmd.output
        check["ModifyIndex"] = idx
        self._touch(idx, "checks")
        self._touch_check_service(cmd.node, check, idx)
        if cmd.status == "critical":
            self._invalidate_sessions_for_check(cmd.node, cmd.check_id, idx, cmd.at)

    def _touch_check_service(self, node: str, check: JSON, idx: int) -> None:
        if check["ServiceID"]:
            self._touch_service(check["ServiceName"], idx)
        else:
            self._touch_node_services(node, idx)

    def _put_check(self, node: str, definition: JSON, idx: int) -> None:
        checks = self.checks[node]
        old = checks.get(definition["CheckID"])
        service_id = definition.get("ServiceID", "")
        svc = self.services[node].get(service_id) if service_id else None
        record: JSON = {
            "Node": node,
            "CheckID": definition["CheckID"],
            "Name": definition.get("Name", definition["CheckID"]),
            "Status": definition.get("Status") or (old["Status"] if old else "critical"),
            "Notes": definition.get("Notes", ""),
            "Output": definition.get("Output", old["Output"] if old else ""),
            "ServiceID": service_id,
            "ServiceName": svc["Service"] if svc else "",
            "ServiceTags": list(svc["Tags"]) if svc else [],
            "Type": definition.get("Type", ""),
            "Definition": {k: v for k, v in definition.items() if k not in _NOT_DEFINITION},
        }
        if old is not None and all(old.get(k) == v for k, v in record.items()):
            return
        record["CreateIndex"] = old["CreateIndex"] if old else idx
        record["ModifyIndex"] = idx
        checks[record["CheckID"]] = record
        self._touch(idx, "checks")
        self._touch_check_service(node, record, idx)

    def _drop_check(self, node: str, check_id: str, idx: int, at: float) -> None:
        check = self.checks[node].pop(check_id)
        self._touch(idx, "checks")
        self._touch_check_service(node, check, idx)
        self._invalidate_sessions_for_check(node, check_id, idx, at)

    # -- KV ------------------------------------------------------------------------------------------------------

    def _apply_kv_set(self, cmd: KVSet, idx: int) -> bool:
        entry = self.kv.get(cmd.key)
        if cmd.cas is not None:
            if cmd.cas == 0 and entry is not None:
                return False
            if cmd.cas != 0 and (entry is None or entry["ModifyIndex"] != cmd.cas):
                return False
        session_id = ""
        lock_index = entry["LockIndex"] if entry else 0
        holder = entry.get("Session", "") if entry else ""
        if cmd.acquire is not None:
            if cmd.acquire not in self.sessions:
                raise CommandError(f'invalid session "{cmd.acquire}"', 500)
            if holder and holder != cmd.acquire:
                return False
            if not holder and self.lock_delay.get(cmd.key, 0.0) > cmd.at:
                return False
            if holder != cmd.acquire:
                lock_index += 1
            session_id = cmd.acquire
        elif cmd.release is not None:
            if cmd.release not in self.sessions:
                raise CommandError(f'invalid session "{cmd.release}"', 500)
            if holder != cmd.release:
                return False
        else:
            session_id = holder
        self.kv[cmd.key] = {
            "Key": cmd.key,
            "Value": cmd.value,
            "Flags": cmd.flags,
            "LockIndex": lock_index,
            "Session": session_id,
            "CreateIndex": entry["CreateIndex"] if entry else idx,
            "ModifyIndex": idx,
        }
        self.kv_tombstones.pop(cmd.key, None)
        self._touch(idx, "kvs")
        return True

    def _apply_kv_delete(self, cmd: KVDelete, idx: int) -> bool:
        if cmd.recurse:
            doomed = [k for k in self.kv if k.startswith(cmd.key)]
        else:
            entry = self.kv.get(cmd.key)
            if cmd.cas is not None:
                if entry is None:
                    return cmd.cas == 0
                if cmd.cas != 0 and entry["ModifyIndex"] != cmd.cas:
                    return False
            doomed = [cmd.key] if entry is not None else []
        for key in doomed:
            self._delete_key(key, idx)
        return True

    def _delete_key(self, key: str, idx: int) -> None:
        del self.kv[key]
        self.kv_tombstones[key] = idx
        self._touch(idx, "kvs")
        if len(self.kv_tombstones) > TOMBSTONES_MAX:
            # reap the oldest; their indexes live on as a floor so a prefix's index never goes backwards
            oldest = sorted(self.kv_tombstones.items(), key=lambda item: item[1])[: TOMBSTONES_MAX // 10]
            for reaped, _ in oldest:
                del self.kv_tombstones[reaped]
            self.kv_tombstone_floor = max(self.kv_tombstone_floor, oldest[-1][1])

    # -- sessions ------------------------------------------------------------------------------------------------

    def _apply_session_create(self, cmd: SessionCreate, idx: int) -> str:
        if cmd.node not in self.nodes:
            raise CommandError(f"Missing node registration for node {cmd.node!r}", 500)
        node_checks = self.checks.get(cmd.node, {})
        for check_id in (*cmd.node_checks, *cmd.service_checks):
            check = node_checks.get(check_id)
            if check is None:
                raise CommandError(f"Missing check '{check_id}' registration", 500)
            if check["Status"] == "critical":
                raise CommandError(f"Check '{check_id}' is in critical state", 500)
        if cmd.session_id in self.sessions:
            raise CommandError(f"session {cmd.session_id} already exists", 500)
        self.sessions[cmd.session_id] = {
            "ID": cmd.session_id,
            "Name": cmd.name,
            "Node": cmd.node,
            "LockDelay": round(cmd.lock_delay * 1e9),
            "Behavior": cmd.behavior,
            "TTL": _ttl_text(cmd.ttl),
            "NodeChecks": list(cmd.node_checks),
            "ServiceChecks": [{"ID": c, "Namespace": ""} for c in cmd.service_checks] or None,
            "CreateIndex": idx,
            "ModifyIndex": idx,
        }
        self._touch(idx, "sessions")
        return cmd.session_id

    def _apply_session_destroy(self, cmd: SessionDestroy, idx: int) -> bool:
        if cmd.session_id not in self.sessions:
            return False
        self._invalidate_session(cmd.session_id, idx, cmd.at)
        return True

    def _invalidate_session(self, session_id: str, idx: int, at: float) -> None:
        session = self.sessions.pop(session_id)
        self._touch(idx, "sessions")
        delay = session["LockDelay"] / 1e9
        for key, entry in list(self.kv.items()):
            if entry.get("Session") != session_id:
                continue
            if delay > 0:
                self.lock_delay[key] = at + delay
            if session["Behavior"] == "delete":
                self._delete_key(key, idx)
            else:
                entry["Session"] = ""
                entry["ModifyIndex"] = idx
                self._touch(idx, "kvs")

    def _invalidate_sessions_for_check(self, node: str, check_id: str, idx: int, at: float) -> None:
        for session_id, session in list(self.sessions.items()):
            if session["Node"] != node:
                continue
            service_checks = [c["ID"] for c in session["ServiceChecks"] or []]
            if check_id in session["NodeChecks"] or check_id in service_checks:
                self._invalidate_session(session_id, idx, at)

    # -- snapshots -----------------------------------------------------------------------------------------------

    def snapshot(self) -> JSON:
        kv = {
            k: {**v, "Value": base64.b64encode(v["Value"]).decode() if v["Value"] is not None else None}
            for k, v in self.kv.items()
        }
        return {
            "index": self.index,
            "tables": self.tables,
            "nodes": self.nodes,
            "services": self.services,
            "checks": self.checks,
            "service_index": self.service_index,
            "kv": kv,
            "kv_tombstones": self.kv_tombstones,
            "kv_tombstone_floor": self.kv_tombstone_floor,
            "lock_delay": self.lock_delay,
            "sessions": self.sessions,
        }

    def replace_with(self, other: State) -> None:
        """Take `other`'s content in place (an installed snapshot): readers holding this object see it,
        and its `on_replace` observers learn of it afterwards."""
        for f in fields(self):
            if f.name not in ("listeners", "on_replace"):
                setattr(self, f.name, getattr(other, f.name))
        for observer in list(self.on_replace):
            observer()

    @classmethod
    def restore(cls, data: JSON) -> State:
        """The state of a snapshot; ValueError (one line) when its shape is wrong."""
        try:
            return cls._restore(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a state snapshot ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _restore(cls, data: JSON) -> State:
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        state = cls()
        for key in (
            "index",
            "tables",
            "nodes",
            "services",
            "checks",
            "service_index",
            "kv_tombstones",
            "lock_delay",
            "sessions",
        ):
            setattr(state, key, copy.deepcopy(data[key]))
        state.kv_tombstone_floor = int(data.get("kv_tombstone_floor", 0))
        state.kv = {
            k: {**v, "Value": base64.b64decode(v["Value"], validate=True) if v["Value"] is not None else None}
            for k, v in data["kv"].items()
        }
        if not isinstance(state.index, int) or not all(isinstance(v, int) for v in state.tables.values()):
            raise TypeError("index and table indexes must be integers")
        for name in ("nodes", "services", "checks", "service_index", "kv_tombstones", "lock_delay", "sessions"):
            if not isinstance(getattr(state, name), dict):
                raise TypeError(f"{name} must be an object")
        for key, entry in state.kv.items():
            if not isinstance(entry.get("ModifyIndex"), int) or not isinstance(entry.get("Key"), str):
                raise TypeError(f"kv entry {key!r} is malformed")
        return state

    # -- small read helpers shared by the views ------------------------------------------------------------------

    def all_services(self) -> Iterator[tuple[str, JSON]]:
        for node, services in self.services.items():
            for svc in services.values():
                yield node, svc

    def all_checks(self) -> Iterator[JSON]:
        for checks in self.checks.values():
            yield from checks.values()


_NOT_DEFINITION = frozenset({"CheckID", "Name", "Notes", "Status", "Output", "ServiceID", "Type"})


def _ttl_text(ttl: float) -> str:
    if ttl <= 0:
        return ""
    return f"{ttl:g}s"
