"""How the HTTP API holds its connections: a header timeout, an idle timeout, a cap below the descriptor
limit that makes room by closing the longest-idle connection, and resource errors logged once per interval.

Without them, connections that never send a request were kept for ever: 1,100 of them under a
1,024-descriptor limit left no descriptor to accept a real client, and asyncio logged a traceback for
each failed `accept()` (30 MB in 20 s). A connection is *busy* while a request runs (a blocking query
may wait minutes, and is never closed for it); otherwise it is idle and may be closed to make room.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gitlab_ha.discovery.ratelog import RateLimitedLog

log = logging.getLogger("gitlab_ha.discovery.http")

HEADER_TIMEOUT = 10.0  # a new connection without a complete request within this long is closed
IDLE_TIMEOUT = 75.0  # a keep-alive connection idle this long is closed (off any client's loop: Patroni's is 10 s)
CONNECTIONS_MAX = 4096
CONNECTIONS_MIN = 16
# asyncio accepts up to `backlog` sockets per loop turn before any protocol (and so the cap) sees them:
# that many descriptors may be held beyond the cap for a moment, well within the half left free.
BACKLOG = 100


def default_limit() -> int:
    """Half the descriptors this process may open, at most CONNECTIONS_MAX: the rest stay for data
    files, check scripts, watches and DNS."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return CONNECTIONS_MAX
    return max(CONNECTIONS_MIN, min(CONNECTIONS_MAX, soft // 2))


class _Refused(asyncio.Protocol):
    """Every open connection is busy: this one is closed as soon as it is accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class ConnectionGuard:
    def __init__(self, limit: int = 0) -> None:
        self.limit = limit or default_limit()
        self._busy: dict[RequestHandler, int] = {}
        self._idle_since: dict[RequestHandler, float] = {}
        self._closing: set[RequestHandler] = set()  # closed by us, not yet gone from the server's list
        self._fresh: set[RequestHandler] = set()  # connected, no request seen yet
        self.trouble = RateLimitedLog(log)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        proto = request.protocol
        self._fresh.discard(proto)
        self._busy[proto] = self._busy.get(proto, 0) + 1
        try:
            return await handler(request)
        finally:
            left = self._busy.get(proto, 1) - 1
            if left:
                self._busy[proto] = left
            else:
                self._busy.pop(proto, None)
                self._idle_since[proto] = time.monotonic()

    def factory(self, server: web.Server) -> Callable[[], asyncio.Protocol]:
        def make() -> asyncio.Protocol:
            open_now = [h for h in server.connections if h not in self._closing]
            if len(open_now) >= self.limit and not self._make_room(server.connections, open_now):
                self.trouble.warning(
                    "cap", "HTTP: %d connections, all busy (limit %d): refusing new ones", len(open_now), self.limit
                )
                return _Refused()
            handler = server()
            self._idle_since[handler] = time.monotonic()
            self._fresh.add(handler)
            asyncio.get_running_loop().call_later(HEADER_TIMEOUT, self._no_request_yet, handler)
            return handler

        return make

    def _no_request_yet(self, handler: RequestHandler) -> None:
        """HEADER_TIMEOUT after connecting: a connection that has not sent a whole request is closed
        (aiohttp's own keep-alive timer is IDLE_TIMEOUT, far too long for a client that sends nothing)."""
        if handler in self._fresh:
            self._fresh.discard(handler)
            if handler not in self._busy:
                handler.force_close()

    def _make_room(self, listed: list[RequestHandler], open_now: list[RequestHandler]) -> bool:
        """Close the longest-idle connection; False if every one is busy."""
        alive = set(listed)
        for table in (self._busy, self._idle_since):
            for gone in [h for h in table if h not in alive]:
                del table[gone]
        self._closing &= alive
        self._fresh &= alive
        idle = [h for h in open_now if h not in self._busy]
        if not idle:
            return False
        oldest = min(idle, key=lambda h: self._idle_since.get(h, 0.0))
        self.trouble.warning(
            "evict", "HTTP: %d connections open (limit %d): closing the longest idle ones", len(open_now), self.limit
        )
        self._idle_since.pop(oldest, None)
        self._closing.add(oldest)
        oldest.force_close()
        return True


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections go through a ConnectionGuard; with `ssl_context`, HTTPS. One guard may
    serve several sites of one runner (HTTP and HTTPS on every client address): its cap counts them all.

    Over TLS the guard's header timeout starts at `accept()`, before the handshake; a handshake still
    unfinished after HEADER_TIMEOUT is abandoned too (asyncio's own default would wait 60 s), so a client
    that connects and says nothing holds a descriptor no longer on 8501 than on 8500."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, host, port, reuse_address=True, backlog=BACKLOG, ssl_context=ssl_context)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard.factory(server),
            self._host,
            self._port,
            reuse_address=True,
            backlog=BACKLOG,
            ssl=self._ssl_context,
            ssl_handshake_timeout=HEADER_TIMEOUT if self._ssl_context is not None else None,
        )

    @property
    def port(self) -> int:
        assert isinstance(self._server, asyncio.Server)
        port: int = self._server.sockets[0].getsockname()[1]
        return port


def quiet_resource_errors(loop: asyncio.AbstractEventLoop) -> None:
    """A failed `accept()` (no descriptor left) logs one line per interval instead of a traceback each."""
    trouble = RateLimitedLog(logging.getLogger("gitlab_ha.discovery"))

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if "out of system resource" in message or isinstance(context.get("exception"), MemoryError):
            exc = context.get("exception")
            trouble.warning("resource", "%s: %s", message, exc)
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
