"""Watches: a blocking query loop that runs a handler whenever what it watches changes.

Types as in Consul: `key`, `keyprefix`, `services`, `nodes`, `service`, `checks`. The handler gets the
JSON result on stdin and `CONSUL_INDEX` in its environment; it runs once at start and then after each
change of the result (an unchanged result after an index bump does not run it again). Without a
handler the JSON is printed on stdout, like `consul watch` does. Errors back off from 1 s to 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from gitlab_ha.discovery.config import norm
from gitlab_ha.discovery.processes import run_group
from gitlab_ha.errors import InputError

log = logging.getLogger("gitlab_ha.discovery.watches")

TYPES = ("key", "keyprefix", "services", "nodes", "service", "checks")
WAIT = "5m"
HANDLER_TIMEOUT = 300.0


@dataclass
class WatchSpec:
    kind: str
    key: str = ""
    prefix: str = ""
    service: str = ""
    tags: tuple[str, ...] = ()
    passing_only: bool = False
    state: str = ""
    datacenter: str = ""

    def request(self) -> tuple[str, list[tuple[str, str]]]:
        """Path and query of the blocking read for this watch."""
        params: list[tuple[str, str]] = []
        if self.datacenter:
            params.append(("dc", self.datacenter))
        if self.kind == "key":
            return f"/v1/kv/{quote(self.key)}", params
        if self.kind == "keyprefix":
            return f"/v1/kv/{quote(self.prefix)}", [*params, ("recurse", "1")]
        if self.kind == "services":
            return "/v1/catalog/services", params
        if self.kind == "nodes":
            return "/v1/catalog/nodes", params
        if self.kind == "service":
            params.extend(("tag", t) for t in self.tags)
            if self.passing_only:
                params.append(("passing", "1"))
            return f"/v1/health/service/{quote(self.service)}", params
        if self.service:
            return f"/v1/health/checks/{quote(self.service)}", params
        return f"/v1/health/state/{quote(self.state or 'any')}", params

    def shape(self, status: int, body: Any) -> Any:
        """The JSON a handler receives, as Consul's watch gives it."""
        if status == 404:
            return None
        if self.kind == "key":
            return body[0] if isinstance(body, list) and body else None
        return body


def make_spec(params: dict[str, Any], where: str) -> WatchSpec:
    fields = {norm(k): v for k, v in params.items()}
    kind = str(fields.get("type", ""))
    if kind not in TYPES:
        raise InputError(f"watch type must be one of {', '.join(TYPES)}, got {kind!r}", where)
    tags = fields.get("tag", [])
    if isinstance(tags, str):
        tags = [tags]
    spec = WatchSpec(
        kind=kind,
        key=str(fields.get("key", "")),
        prefix=str(fields.get("prefix", "")),
        service=str(fields.get("service", "")),
        tags=tuple(str(t) for t in tags),
        passing_only=bool(fields.get("passingonly", False)),
        state=str(fields.get("state", "")),
        datacenter=str(fields.get("datacenter", "")),
    )
    if kind == "key" and not spec.key:
        raise InputError("a key watch needs key", where)
    if kind == "keyprefix" and "prefix" not in fields:
        raise InputError("a keyprefix watch needs prefix", where)
    if kind == "service" and not spec.service:
        raise InputError("a service watch needs service", where)
    if kind == "checks" and spec.service and spec.state:
        raise InputError("a checks watch takes service or state, not both", where)
    return spec


class WatchRunner:
    def __init__(
        self,
        spec: WatchSpec,
        address: str,
        *,
        args: list[str] | None = None,
        shell: str | None = None,
        token: str = "",
        on_result: Callable[[int, Any], None] | None = None,
    ) -> None:
        self.spec = spec
        self.address = address.rstrip("/")
        self.args = args
        self.shell = shell
        self.token = token
        self.on_result = on_result
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def run(self) -> None:
        path, params = self.spec.request()
        index = 0
        last: Any = object()
        backoff = 1.0
        headers = {"X-Consul-Token": self.token} if self.token else {}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=400)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            while True:
                query = [*params, ("index", str(index)), ("wait", WAIT)] if index else params
                try:
                    async with session.get(self.address + path, params=query) as resp:
                        if resp.status not in (200, 404):
                            raise RuntimeError(f"{resp.status} {(await resp.text()).strip()}")
                        new_index = int(resp.headers.get("X-Consul-Index", "0"))
                        body = await resp.json(content_type=None) if resp.status == 200 else None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("watch %s: %s; retrying in %gs", self.spec.kind, exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
                if new_index < index:
                    index = 0  # the index went backwards (a restored server): start over
                    continue
                if new_index == index:
                    continue
                index = new_index
                result = self.spec.shape(resp.status, body)
                if result == last:
                    continue
                last = result
                await self._handle(index, result)

    async def _handle(self, index: int, result: Any) -> None:
        self.runs += 1
        payload = json.dumps(result, indent=2).encode() + b"\n"
        if self.on_result is not None:
            self.on_result(index, result)
        if self.args is None and self.shell is None:
            if self.on_result is None:
                sys.stdout.buffer.write(payload)
                sys.stdout.flush()
            return
        argv = self.args if self.args is not None else ["/bin/sh", "-c", self.shell or ""]
        env = {**os.environ, "CONSUL_INDEX": str(index)}
        try:
            outcome = await run_group(argv, timeout=HANDLER_TIMEOUT, stdin=payload, capture=False, env=env)
        except OSError as exc:
            log.error("watch handler %s failed to start: %s", argv[0], exc)
            return
        if outcome.returncode is None:
            log.warning("watch handler %s timed out after %gs; killed its process group", argv[0], HANDLER_TIMEOUT)
        elif outcome.returncode:
            log.warning("watch handler %s exited %s", argv[0], outcome.returncode)


def watch_from_config(params: dict[str, Any], where: str, address: str) -> WatchRunner:
    """A watch of the agent's `watches` config (handler_type script with `args`, or legacy `handler`)."""
    spec = make_spec(params, where)
    fields = {norm(k): v for k, v in params.items()}
    handler_type = fields.get("handlertype", "script")
    if handler_type != "script":
        raise InputError(f"watch handler_type {handler_type!r} is not supported (use script)", where)
    args = fields.get("args")
    shell = fields.get("handler")
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
        raise InputError("args must be a list of strings", where)
    if args is None and not isinstance(shell, str):
        raise InputError("a watch needs args (or handler)", where)
    return WatchRunner(
        spec, address, args=args, shell=shell if args is None else None, token=str(fields.get("token", ""))
    )
