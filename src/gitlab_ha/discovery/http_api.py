"""Consul's HTTP API (`/v1/...`) on aiohttp, with Consul's field names, status codes and blocking queries.

Bad input is always a 400 with a one-line, Consul-style text body ("Request decode failed: …"); an
unexpected fault is a 500 with a one-line body, never a traceback. Every read answers with
`X-Consul-Index` (a 404 too), and `?index=N&wait=D` blocks until what the read shows changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from gitlab_ha.discovery import catalog, kv, sessions
from gitlab_ha.discovery.catalog import View
from gitlab_ha.discovery.config import STATUSES, AgentConfig, parse_check, parse_service
from gitlab_ha.discovery.state import (
    JSON,
    Command,
    CommandError,
    DeregisterCheck,
    DeregisterNode,
    DeregisterService,
    KVDelete,
    KVSet,
    RegisterCheck,
    RegisterNode,
    RegisterService,
    SessionCreate,
    SessionDestroy,
    State,
)
from gitlab_ha.discovery.values import norm, parse_duration
from gitlab_ha.discovery.waits import wait_event
from gitlab_ha.errors import InputError


class AgentPort(Protocol):
    """What the HTTP API needs of the agent; `agent.Agent` is one (this module does not import it).

    `state` is the replica of the cluster's catalog, KV and sessions; `local` holds the agent's own
    node, services and checks (what `/v1/agent/*` shows).
    """

    node: str
    config: AgentConfig
    changed: asyncio.Event
    closing: bool
    local: State

    @property
    def state(self) -> State: ...

    async def submit(self, cmd: Command) -> Any: ...

    async def consistent(self, mode: str) -> None: ...

    def consistency_headers(self) -> dict[str, str]: ...

    def register_service(
        self, svc: JSON, checks: list[JSON], *, replace_checks: bool = False, source: str = ""
    ) -> None: ...

    def register_check(self, check: JSON, *, source: str = "") -> None: ...

    def deregister_service(self, service_id: str) -> None: ...

    def deregister_check(self, check_id: str) -> None: ...

    def update_check(self, check_id: str, status: str, output: str) -> None: ...

    async def sync_now(self, timeout: float | None = None) -> None: ...

    def ttl_update(self, check_id: str) -> None: ...

    async def create_session(self, cmd: SessionCreate) -> str: ...

    async def renew_session(self, session_id: str) -> bool: ...

    async def reload(self) -> None: ...

    def request_stop(self, *, leave: bool = False) -> None: ...

    def self_info(self) -> JSON: ...

    def member_info(self) -> JSON: ...

    def members(self) -> list[JSON]: ...

    async def status(self) -> tuple[str, list[str]]: ...


log = logging.getLogger("gitlab_ha.discovery.http")

AGENT_KEY = web.AppKey("agent", AgentPort)
MAX_WAIT = 600.0
DEFAULT_WAIT = 300.0
KV_MAX_VALUE = 512 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def text(body: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=body if body.endswith("\n") or not body else body + "\n",
        status=status,
        content_type="text/plain",
        headers=headers,
    )


def index_headers(index: int) -> dict[str, str]:
    """The headers of a read at `index`; the `errors` middleware adds KnownLeader and LastContact to them."""
    return {"X-Consul-Index": str(index)}


def jresp(data: Any, status: int = 200, index: int | None = None) -> web.Response:
    headers = {"Vary": "Accept-Encoding", **(index_headers(index) if index is not None else {})}
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def one_line(message: str) -> str:
    """An error body is one printable line, whatever characters the bad input carried."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if "filter" in request.query:
            # Consul's bexpr filters are not implemented; ignoring one would hand a client unfiltered data.
            raise CommandError("Failed to create boolean expression evaluator: ?filter is not supported by this agent")
        response = await handler(request)
        if "X-Consul-Index" in response.headers:
            port: AgentPort = request.app[AGENT_KEY]
            response.headers.update(port.consistency_headers())
        if (
            "pretty" in request.query
            and isinstance(response, web.Response)
            and response.content_type == "application/json"
        ):
            raw = response.body
            if isinstance(raw, bytes):
                response.body = json.dumps(json.loads(raw), indent=4).encode() + b"\n"
        return response
    except CommandError as exc:
        return text(one_line(exc.message), exc.status)
    except InputError as exc:
        return text(one_line(f"Request decode failed: {exc}"), 400)
    except web.HTTPException as exc:
        if exc.status == 405:
            return text(f"method {request.method} not allowed", 405)
        if exc.status == 404:
            return text("", 404)
        return text(exc.reason, exc.status)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("HTTP %s %s failed", request.method, request.path)
        return text(f"Internal error: {type(exc).__name__}", 500)


def consistency_mode(request: web.Request) -> str:
    stale, consistent = "stale" in request.query, "consistent" in request.query
    if stale and consistent:
        raise CommandError("Cannot specify ?stale with ?consistent, conflicting semantics.")
    return "stale" if stale else "consistent" if consistent else "default"


def flag(request: web.Request, name: str) -> bool:
    """`?passing`, `?passing=1`, `?passing=true` are all true; `?passing=false` is not."""
    if name not in request.query:
        return False
    return request.query.get(name, "").lower() not in ("false", "0")


def node_meta(request: web.Request) -> dict[str, str]:
    """`?node-meta=key:value`, repeatable: nodes must carry every pair (Consul's node-meta filter)."""
    wanted: dict[str, str] = {}
    for raw in request.query.getall("node-meta", []):
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise CommandError(f"Invalid node-meta {raw!r}: use key:value")
        wanted[key] = value
    return wanted


def meta_matches(meta: Any, wanted: dict[str, str]) -> bool:
    return all(isinstance(meta, dict) and meta.get(k) == v for k, v in wanted.items())


def int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise CommandError(f"Invalid {name} parameter: {raw!r} is not an unsigned integer") from None
    if value < 0:
        raise CommandError(f"Invalid {name} parameter: {raw!r} is not an unsigned integer")
    return value


async def read_body(request: web.Request) -> bytes:
    return await request.read()


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} out of range")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise ValueError(f"number {text[:20]}… out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid number {name}")


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise CommandError("Request decode failed: missing request body")
        return None
    try:  # as Go's decoder: no NaN/Infinity; a number beyond float64 / 64-bit integers is an error
        return json.loads(raw, parse_float=_finite, parse_int=_int64, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CommandError(f"Request decode failed: {exc}") from None


class API:
    def __init__(self, agent: AgentPort) -> None:
        self.agent = agent
        self.app = web.Application(middlewares=[errors], client_max_size=KV_MAX_VALUE + 65536)
        self.app[AGENT_KEY] = agent
        r = self.app.router
        for path, handler in (
            ("/v1/agent/self", self.agent_self),
            ("/v1/agent/members", self.agent_members),
            ("/v1/agent/services", self.agent_services),
            ("/v1/agent/service/{id:.+}", self.agent_service),
            ("/v1/agent/checks", self.agent_checks),
            ("/v1/agent/health/service/name/{name}", self.agent_health_name),
            ("/v1/agent/health/service/id/{id:.+}", self.agent_health_id),
            ("/v1/catalog/services", self.catalog_services),
            ("/v1/catalog/service/{name}", self.catalog_service),
            ("/v1/catalog/nodes", self.catalog_nodes),
            ("/v1/catalog/node/{node}", self.catalog_node),
            ("/v1/catalog/datacenters", self.catalog_datacenters),
            ("/v1/health/service/{name}", self.health_service),
            ("/v1/health/node/{node}", self.health_node),
            ("/v1/health/checks/{name}", self.health_checks),
            ("/v1/health/state/{state}", self.health_state),
            ("/v1/session/info/{id}", self.session_info),
            ("/v1/session/list", self.session_list),
            ("/v1/session/node/{node}", self.session_node),
            ("/v1/status/leader", self.status_leader),
            ("/v1/status/peers", self.status_peers),
        ):
            r.add_get(path, handler)
        for path, handler in (
            ("/v1/agent/service/register", self.service_register),
            ("/v1/agent/service/deregister", self.service_deregister),
            ("/v1/agent/service/deregister/{id:.+}", self.service_deregister),
            ("/v1/agent/check/register", self.check_register),
            ("/v1/agent/check/deregister/{id:.+}", self.check_deregister),
            ("/v1/agent/check/pass/{id:.+}", self.check_pass),
            ("/v1/agent/check/warn/{id:.+}", self.check_warn),
            ("/v1/agent/check/fail/{id:.+}", self.check_fail),
            ("/v1/agent/check/update/{id:.+}", self.check_update),
            ("/v1/agent/reload", self.agent_reload),
            ("/v1/catalog/register", self.catalog_register),
            ("/v1/catalog/deregister", self.catalog_deregister),
            ("/v1/agent/maintenance", self.node_maintenance),
            ("/v1/agent/leave", self.agent_leave),
            ("/v1/agent/service/maintenance/{id:.+}", self.service_maintenance),
            ("/v1/session/create", self.session_create),
            ("/v1/session/destroy/{id}", self.session_destroy),
            ("/v1/session/renew/{id}", self.session_renew),
        ):
            r.add_put(path, handler)
        r.add_get("/v1/kv/{key:.*}", self.kv_get)
        r.add_put("/v1/kv/{key:.*}", self.kv_put)
        r.add_post("/v1/kv/{key:.*}", self.kv_put)
        r.add_delete("/v1/kv/{key:.*}", self.kv_delete)

    # -- plumbing ------------------------------------------------------------------------------------------------

    @property
    def state(self) -> Any:
        return self.agent.state

    def check_dc(self, request: web.Request) -> None:
        dc = request.query.get("dc")
        if dc and dc.lower() != self.agent.config.datacenter:
            raise CommandError("No path to datacenter", 500)

    async def blocking(self, request: web.Request, view: Callable[[], View]) -> View:
        """Run `view` once the replica is as fresh as the consistency mode asks (`?stale`, default,
        `?consistent`); with `?index=` wait until its index passes that value or `wait` runs out."""
        self.check_dc(request)
        await self.agent.consistent(consistency_mode(request))
        min_index = int_param(request, "index")
        idx, body = view()
        if not min_index:
            return idx, body
        wait = DEFAULT_WAIT
        if "wait" in request.query:
            try:
                wait = parse_duration(request.query["wait"], "wait")
            except InputError:
                raise CommandError(f"Invalid wait time: {request.query['wait']!r}") from None
        wait = min(max(wait, 0.0), MAX_WAIT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while idx <= min_index and not self.agent.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await wait_event(self.agent.changed, remaining)  # not wait_for: it can swallow a cancellation (3.11)
            idx, body = view()
        return idx, body

    async def blocking_json(self, request: web.Request, view: Callable[[], tuple[int, Any]]) -> web.Response:
        """A blocking read (`blocking`) answered as JSON with its index."""
        idx, body = await self.blocking(request, view)
        return jresp(body, index=idx)

    async def submit(self, cmd: Command) -> Any:
        return await self.agent.submit(cmd)

    # -- agent ---------------------------------------------------------------------------------------------------

    async def agent_self(self, request: web.Request) -> web.Response:
        return jresp(self.agent.self_info())

    async def agent_members(self, request: web.Request) -> web.Response:
        return jresp(self.agent.members())

    async def agent_services(self, request: web.Request) -> web.Response:
        services = self.agent.local.services.get(self.agent.node, {})
        return jresp(
            {sid: self._agent_service(s) for sid, s in sorted(services.items()) if s.get("_source") != "server"}
        )

    def _agent_service(self, svc: JSON) -> JSON:
        out = catalog.service_json(svc)
        out.pop("CreateIndex")
        out.pop("ModifyIndex")
        out["Datacenter"] = self.agent.config.datacenter
        return out

    async def agent_service(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if sid == "register" or sid.startswith(("deregister", "maintenance/")):
            return text(f"method {request.method} not allowed", 405)  # PUT-only paths, as Consul's router says
        svc = self.agent.local.services.get(self.agent.node, {}).get(sid)
        if svc is None:
            return text(f"unknown service ID: {request.match_info['id']}", 404)
        out = self._agent_service(svc)
        out["ContentHash"] = f"{svc['ModifyIndex']:016x}"
        return jresp(out)

    async def agent_checks(self, request: web.Request) -> web.Response:
        checks = self.agent.local.checks.get(self.agent.node, {})
        out = {}
        for cid, c in sorted(checks.items()):
            item = catalog.check_json(c)
            item.pop("CreateIndex")
            item.pop("ModifyIndex")
            out[cid] = item
        return jresp(out)

    def _agent_health(self, services: list[JSON], request: web.Request) -> web.Response:
        entries = []
        worst = "passing"
        node_checks = self.agent.local.checks.get(self.agent.node, {})
        for svc in services:
            checks = [catalog.check_json(c) for c in node_checks.values() if c["ServiceID"] in ("", svc["ID"])]
            status = catalog.aggregated_status(checks)
            if STATUSES.index(status) > STATUSES.index(worst):
                worst = status
            entries.append({"AggregatedStatus": status, "Service": self._agent_service(svc), "Checks": checks})
        code = {"passing": 200, "warning": 429, "critical": 503}[worst]
        if request.query.get("format") == "text":
            return text(worst, code)
        return jresp(entries, code)

    async def agent_health_name(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        found = [s for s in self.agent.local.services.get(self.agent.node, {}).values() if s["Service"] == name]
        if not found:
            return text(f"ServiceName {name} Not Found", 404)
        return self._agent_health(found, request)

    async def agent_health_id(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        svc = self.agent.local.services.get(self.agent.node, {}).get(sid)
        if svc is None:
            return text(f"ServiceId {sid} not found", 404)
        resp = self._agent_health([svc], request)
        if request.query.get("format") != "text":
            resp.body = json.dumps(json.loads(resp.body)[0], separators=(",", ":")).encode()  # type: ignore[arg-type]
        return resp

    async def agent_leave(self, request: web.Request) -> web.Response:
        """Graceful leave: answer, then stop the agent (its state stays in the data dir)."""
        asyncio.get_running_loop().call_later(0.1, lambda: self.agent.request_stop(leave=True))
        return text("")

    async def agent_reload(self, request: web.Request) -> web.Response:
        await self.agent.reload()
        return text("")

    async def _maintenance(
        self, request: web.Request, check_id: str, name: str, service_id: str, default_reason: str
    ) -> web.Response:
        raw = request.query.get("enable")
        if raw is None or raw.lower() not in ("true", "false"):
            raise CommandError("Missing value for enable" if raw is None else f"Invalid value for enable: {raw!r}")
        if raw.lower() == "true":
            check = {
                "CheckID": check_id,
                "Name": name,
                "Notes": request.query.get("reason") or default_reason,
                "Status": "critical",
                "ServiceID": service_id,
                "Type": "",
            }
            self.agent.register_check(check)
        elif check_id in self.agent.local.checks.get(self.agent.node, {}):
            self.agent.deregister_check(check_id)
        await self.agent.sync_now()
        return text("")

    async def node_maintenance(self, request: web.Request) -> web.Response:
        """Node maintenance: a critical `_node_maintenance` check takes every service of the node out."""
        return await self._maintenance(
            request,
            "_node_maintenance",
            "Node Maintenance Mode",
            "",
            "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.",
        )

    async def service_maintenance(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if sid not in self.agent.local.services.get(self.agent.node, {}):
            return text(f"Unknown service ID {sid!r}", 404)
        return await self._maintenance(
            request,
            f"_service_maintenance:{sid}",
            "Service Maintenance Mode",
            sid,
            "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.",
        )

    async def service_register(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if isinstance(body, dict) and len(body) == 1 and next(iter(body)).lower() == "service":
            body = next(iter(body.values()))  # a definition file's `{"service": {...}}` as the seed sends it
        svc, checks = parse_service(body, "")
        self.agent.register_service(svc, checks, replace_checks=flag(request, "replace-existing-checks"))
        await self.agent.sync_now()
        return text("")

    async def service_deregister(self, request: web.Request) -> web.Response:
        sid = request.match_info.get("id", "")
        if not sid:
            # Not in Consul: the seed's `curl --data @web.json …/deregister` names the service in the body
            body = await read_json(request, required=False)
            if isinstance(body, dict) and len(body) == 1 and next(iter(body)).lower() == "service":
                body = next(iter(body.values()))
            if not isinstance(body, dict):
                raise CommandError("Missing service ID")
            svc, _ = parse_service(body, "")
            sid = svc["ID"]
        self.agent.deregister_service(sid)
        await self.agent.sync_now()
        return text("")

    async def check_register(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        check = parse_check(body, "")
        self.agent.register_check(check)
        await self.agent.sync_now()
        return text("")

    async def check_deregister(self, request: web.Request) -> web.Response:
        self.agent.deregister_check(request.match_info["id"])
        await self.agent.sync_now()
        return text("")

    async def _ttl(self, request: web.Request, status: str, output: str | None = None) -> web.Response:
        cid = request.match_info["id"]
        check = self.agent.local.checks.get(self.agent.node, {}).get(cid)
        if check is None:
            return text(f'Unknown check ID "{cid}". Ensure that the check ID is passed, not the check name.', 404)
        if check["Type"] != "ttl":
            return text(f"CheckID {cid!r} does not have associated TTL", 500)
        note = output if output is not None else request.query.get("note", "")
        self.agent.ttl_update(cid)
        self.agent.update_check(cid, status, note)
        await self.agent.sync_now()
        return text("")

    async def check_pass(self, request: web.Request) -> web.Response:
        return await self._ttl(request, "passing")

    async def check_warn(self, request: web.Request) -> web.Response:
        return await self._ttl(request, "warning")

    async def check_fail(self, request: web.Request) -> web.Response:
        return await self._ttl(request, "critical")

    async def check_update(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise CommandError("Request decode failed: expected a JSON object")
        fields = {k.lower(): v for k, v in body.items()}
        unknown = set(fields) - {"status", "output"}
        if unknown:
            raise CommandError(f"Request decode failed: unknown field {sorted(unknown)[0]!r}")
        status = fields.get("status", "")
        output = fields.get("output", "")
        if status not in STATUSES:
            raise CommandError(f"Invalid check status: {status!r}")
        if not isinstance(output, str):
            raise CommandError("Request decode failed: Output must be a string")
        return await self._ttl(request, status, output)

    # -- catalog and health --------------------------------------------------------------------------------------

    def _tags(self, request: web.Request) -> list[str]:
        return request.query.getall("tag", [])

    async def catalog_services(self, request: web.Request) -> web.Response:
        return await self.blocking_json(request, lambda: catalog.catalog_services(self.state))

    async def catalog_service(self, request: web.Request) -> web.Response:
        name, tags, meta = request.match_info["name"], self._tags(request), node_meta(request)
        idx, body = await self.blocking(request, lambda: catalog.catalog_service(self.state, name, tags))
        return jresp([e for e in body if meta_matches(e.get("NodeMeta"), meta)] if meta else body, index=idx)

    async def catalog_nodes(self, request: web.Request) -> web.Response:
        meta = node_meta(request)
        idx, body = await self.blocking(request, lambda: catalog.catalog_nodes(self.state))
        return jresp([n for n in body if meta_matches(n.get("Meta"), meta)] if meta else body, index=idx)

    async def catalog_node(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        return await self.blocking_json(request, lambda: catalog.catalog_node(self.state, node))

    async def catalog_register(self, request: web.Request) -> web.Response:
        """An external node with its services and checks (nobody runs those checks: their status is given)."""
        self.check_dc(request)
        body = await read_json(request)
        node_cmd, service, checks = parse_catalog_register(body)
        if node_cmd.node == self.agent.node:
            raise CommandError("Register services of this agent's node through /v1/agent/service/register")
        if not node_cmd.datacenter:
            node_cmd = dataclasses.replace(node_cmd, datacenter=self.agent.config.datacenter)
        if node_cmd.node not in self.state.nodes or not body_flag(body, "skipnodeupdate"):
            await self.submit(node_cmd)
        if service is not None:
            await self.submit(RegisterService(node_cmd.node, service))
        for check in checks:
            await self.submit(RegisterCheck(node_cmd.node, check))
        return jresp(True)

    async def catalog_deregister(self, request: web.Request) -> web.Response:
        self.check_dc(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise CommandError("Request decode failed: expected a JSON object")
        fields = {norm(k): v for k, v in body.items()}
        node = fields.get("node")
        if not isinstance(node, str) or not node:
            raise CommandError("Must supply node")
        if node == self.agent.node:
            raise CommandError("Deregister this agent's services through /v1/agent/service/deregister")
        if node not in self.state.nodes:
            return jresp(True)
        service_id, check_id = fields.get("serviceid"), fields.get("checkid")
        with contextlib.suppress(CommandError):  # already gone is fine, as in Consul
            if isinstance(service_id, str) and service_id:
                await self.submit(DeregisterService(node, service_id, time.time()))
            elif isinstance(check_id, str) and check_id:
                await self.submit(DeregisterCheck(node, check_id, time.time()))
            else:
                await self.submit(DeregisterNode(node, time.time()))
        return jresp(True)

    async def catalog_datacenters(self, request: web.Request) -> web.Response:
        return jresp([self.agent.config.datacenter])

    async def health_service(self, request: web.Request) -> web.Response:
        name, tags, passing = request.match_info["name"], self._tags(request), flag(request, "passing")
        meta = node_meta(request)
        idx, body = await self.blocking(request, lambda: catalog.health_service(self.state, name, tags, passing))
        return jresp([e for e in body if meta_matches(e["Node"].get("Meta"), meta)] if meta else body, index=idx)

    async def health_node(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        return await self.blocking_json(request, lambda: catalog.health_node(self.state, node))

    async def health_checks(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return await self.blocking_json(request, lambda: catalog.health_checks(self.state, name))

    async def health_state(self, request: web.Request) -> web.Response:
        wanted = request.match_info["state"]
        if wanted not in (*STATUSES, "any"):
            raise CommandError("Bad check state")
        return await self.blocking_json(request, lambda: catalog.health_state(self.state, wanted))

    # -- KV ------------------------------------------------------------------------------------------------------

    async def kv_get(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if "keys" in request.query:
            sep = request.query.get("separator", "")
            idx, names = await self.blocking(request, lambda: kv.keys(self.state, key, sep))
            if not names:
                return text("", 404, index_headers(idx))
            return jresp(names, index=idx)
        if "recurse" in request.query:
            idx, entries = await self.blocking(request, lambda: kv.list_prefix(self.state, key))
            if not entries:
                return text("", 404, index_headers(idx))
            return jresp([kv.entry_json(e) for e in entries], index=idx)
        if not key and request.query.get("index") is None:
            raise CommandError("Missing key name")
        idx, entry = await self.blocking(request, lambda: kv.get(self.state, key))
        headers = index_headers(idx)
        if entry is None:
            return text("", 404, headers)
        if "raw" in request.query:
            return web.Response(body=entry["Value"] or b"", content_type="text/plain", headers=headers)
        return jresp([kv.entry_json(entry)], index=idx)

    async def kv_put(self, request: web.Request) -> web.Response:
        self.check_dc(request)
        key = request.match_info["key"]
        if not key:
            raise CommandError("Missing key name")
        value = await read_body(request)
        if len(value) > KV_MAX_VALUE:
            raise CommandError(
                f"Request body({len(value)} bytes) too large, max size: {KV_MAX_VALUE} bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.",
                413,
            )
        flags = int_param(request, "flags") or 0
        if flags >= 2**64:
            raise CommandError("Invalid flags parameter")
        acquire = request.query.get("acquire")
        release = request.query.get("release")
        if acquire is not None and release is not None:
            raise CommandError("Conflicting flags: acquire and release")
        ok = await self.submit(KVSet(key, value, flags, int_param(request, "cas"), acquire, release, time.time()))
        return jresp(bool(ok))

    async def kv_delete(self, request: web.Request) -> web.Response:
        self.check_dc(request)
        key = request.match_info["key"]
        recurse = "recurse" in request.query
        if not key and not recurse:
            raise CommandError("Missing key name")
        ok = await self.submit(KVDelete(key, recurse, int_param(request, "cas")))
        return jresp(bool(ok))

    # -- sessions ------------------------------------------------------------------------------------------------

    async def session_create(self, request: web.Request) -> web.Response:
        self.check_dc(request)
        body = await read_json(request, required=False)
        cmd = sessions.parse_create(body, self.agent.node, self.agent.config.session_ttl_min, time.time())
        session_id = await self.agent.create_session(cmd)
        return jresp({"ID": session_id})

    async def session_destroy(self, request: web.Request) -> web.Response:
        self.check_dc(request)
        await self.submit(SessionDestroy(request.match_info["id"], time.time()))
        return jresp(True)

    async def session_renew(self, request: web.Request) -> web.Response:
        self.check_dc(request)
        sid = request.match_info["id"]
        if not await self.agent.renew_session(sid):
            return text(f"Session id '{sid}' not found", 404)
        idx, body = sessions.info(self.state, sid)
        return jresp(body, index=idx)

    async def session_info(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        return await self.blocking_json(request, lambda: sessions.info(self.state, sid))

    async def session_list(self, request: web.Request) -> web.Response:
        return await self.blocking_json(request, lambda: sessions.list_all(self.state))

    async def session_node(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        return await self.blocking_json(request, lambda: sessions.list_all(self.state, node))

    # -- status --------------------------------------------------------------------------------------------------

    async def status_leader(self, request: web.Request) -> web.Response:
        leader, _ = await self.agent.status()
        return jresp(leader)

    async def status_peers(self, request: web.Request) -> web.Response:
        _, peers = await self.agent.status()
        return jresp(peers)


def body_flag(body: Any, key: str) -> bool:
    return isinstance(body, dict) and any(norm(k) == key and v is True for k, v in body.items())


_CATALOG_NODE_KEYS = {
    "id",
    "node",
    "address",
    "datacenter",
    "taggedaddresses",
    "nodemeta",
    "service",
    "check",
    "checks",
    "skipnodeupdate",
    "token",
    "writerequest",
}
_CATALOG_CHECK_KEYS = {
    "node",
    "checkid",
    "name",
    "notes",
    "status",
    "serviceid",
    "output",
    "definition",
    "type",
    "namespace",
    "partition",
}


def parse_catalog_register(body: Any) -> tuple[RegisterNode, JSON | None, list[JSON]]:
    """The body of PUT /v1/catalog/register, refused field by field like the rest of the API."""
    if not isinstance(body, dict):
        raise CommandError("Request decode failed: expected a JSON object")
    fields = {norm(k): v for k, v in body.items()}
    unknown = sorted(k for k in body if norm(k) not in _CATALOG_NODE_KEYS)
    if unknown:
        raise CommandError(f"Request decode failed: invalid key {unknown[0]!r}")
    node, address = fields.get("node"), fields.get("address")
    if not isinstance(node, str) or not node:
        raise CommandError("Must supply node")
    if not isinstance(address, str) or not address:
        raise CommandError("Must supply address")
    meta = fields.get("nodemeta") or {}
    tagged = fields.get("taggedaddresses") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CommandError("Request decode failed: NodeMeta must be an object of strings")
    if not isinstance(tagged, dict) or not all(isinstance(v, str) for v in tagged.values()):
        raise CommandError("Request decode failed: TaggedAddresses must be an object of strings")
    node_id = fields.get("id") or ""
    if not isinstance(node_id, str):
        raise CommandError("Request decode failed: ID must be a string")
    datacenter = fields.get("datacenter") or ""
    if not isinstance(datacenter, str):
        raise CommandError("Request decode failed: Datacenter must be a string")
    cmd = RegisterNode(node, node_id, address, datacenter, dict(meta), agent=False, tagged_addresses=dict(tagged))
    service = None
    if fields.get("service") is not None:
        service, service_checks = parse_service(fields["service"], "Service")
        if service_checks:
            raise CommandError("Request decode failed: Service.Checks: give catalog checks in Check or Checks")
    raw_checks = [fields["check"]] if fields.get("check") is not None else []
    extra = fields.get("checks")
    if extra is not None:
        if not isinstance(extra, list):
            raise CommandError("Request decode failed: Checks must be a list")
        raw_checks.extend(extra)
    checks = [_catalog_check(c, i) for i, c in enumerate(raw_checks)]
    return cmd, service, checks


def _catalog_check(raw: Any, i: int) -> JSON:
    if not isinstance(raw, dict):
        raise CommandError(f"Request decode failed: Checks[{i}] must be an object")
    fields = {norm(k): v for k, v in raw.items()}
    unknown = sorted(k for k in raw if norm(k) not in _CATALOG_CHECK_KEYS)
    if unknown:
        raise CommandError(f"Request decode failed: Checks[{i}]: invalid key {unknown[0]!r}")
    for key in ("checkid", "name", "notes", "status", "serviceid", "output"):
        if key in fields and not isinstance(fields[key], str):
            raise CommandError(f"Request decode failed: Checks[{i}].{key} must be a string")
    check_id = fields.get("checkid") or fields.get("name")
    if not check_id:
        raise CommandError(f"Request decode failed: Checks[{i}]: missing CheckID")
    status = fields.get("status") or "critical"
    if status not in STATUSES:
        raise CommandError(f"Request decode failed: Checks[{i}]: invalid status {status!r}")
    return {
        "CheckID": check_id,
        "Name": fields.get("name") or check_id,
        "Notes": fields.get("notes", ""),
        "Status": status,
        "Output": fields.get("output", ""),
        "ServiceID": fields.get("serviceid", ""),
        "Type": "",
    }
