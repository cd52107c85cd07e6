"""Watches: a blocking query loop that runs a handler whenever what it watches changes.

Types as in Consul: `key`, `keyprefix`, `services`, `nodes`, `service`, `checks`. The handler gets the
JSON result on stdin and `CONSUL_INDEX` in its environment; it runs once at start and then after each
change of the result (an unchanged result after an index bump does not run it again). Without a
handler the JSON is printed on stdout, like `consul watch` does. Errors back off from 1 s to 30 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from gitlab_ha.discovery.definitions import WatchDefinition, WatchSpec
from gitlab_ha.discovery.waits import cancel_and_wait
from gitlab_ha.proc import aio

log = logging.getLogger("gitlab_ha.discovery.watches")

WAIT = "5m"
HANDLER_TIMEOUT = 300.0
READ_TIMEOUT = 400.0  # a blocking read answers within WAIT plus Consul's jitter (WAIT/16)


class WatchRunner:
    def __init__(
        self,
        spec: WatchSpec,
        address: str,
        *,
        argv: list[str] | None = None,
        token: str = "",
        on_result: Callable[[int, Any], None] | None = None,
    ) -> None:
        self.spec = spec
        self.address = address
        self.argv = argv
        self.token = token
        self.on_result = on_result
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            # Exception too: a watch that died of an error must not break a reload or the agent's shutdown
            await cancel_and_wait([self._task], also=(Exception,))
            self._task = None

    async def run(self) -> None:
        path, params = self.spec.request()
        index = 0
        last: Any = object()
        backoff = 1.0
        # py-consul (and requests) only where a watch runs: most agents have none
        from gitlab_ha.discovery.client import AsyncConsulClient

        async with AsyncConsulClient(self.address, token=self.token) as client:
            while True:
                query = [*params, ("index", str(index)), ("wait", WAIT)] if index else params
                try:
                    reply = await client.get(path, params=query, timeout=READ_TIMEOUT)
                    if reply.status not in (200, 404):
                        raise RuntimeError(f"{reply.status} {reply.text.strip()}")
                    new_index = reply.index
                    body = reply.data if reply.status == 200 else None
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
                result = self.spec.shape(reply.status, body)
                if result == last:
                    continue
                last = result
                await self._handle(index, result)

    async def _handle(self, index: int, result: Any) -> None:
        self.runs += 1
        payload = json.dumps(result, indent=2).encode() + b"\n"
        if self.on_result is not None:
            self.on_result(index, result)
        if self.argv is None:
            if self.on_result is None:
                sys.stdout.buffer.write(payload)
                sys.stdout.flush()
            return
        argv = self.argv
        env = {**os.environ, "CONSUL_INDEX": str(index)}
        try:
            outcome = await aio.run(argv, timeout=HANDLER_TIMEOUT, stdin=payload, capture=False, env=env)
        except OSError as exc:
            log.error("watch handler %s failed to start: %s", argv[0], exc)
            return
        if outcome.returncode is None:
            log.warning("watch handler %s timed out after %gs; killed its process tree", argv[0], HANDLER_TIMEOUT)
        elif outcome.returncode:
            log.warning("watch handler %s exited %s", argv[0], outcome.returncode)


def watch_from_config(definition: WatchDefinition, address: str) -> WatchRunner:
    """The runner of a watch of the agent's config (validated when the config was read)."""
    return WatchRunner(definition, address, argv=definition.argv, token=definition.token)
