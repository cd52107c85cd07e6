"""The agents' RPC on the server port (8300): length-prefixed JSON frames over TCP, TLS when configured.

Servers answer Raft's own calls (`raft.vote`, `raft.append`, `raft.snapshot`) and what agents ask of
the cluster (`apply` a command, `read_index`, `session.renew`, `subscribe` to the committed log).
Frames are `<4-byte big-endian length><JSON>`: no pickle, nothing executable, a size cap per frame.

    request   {"id": n, "m": "apply", "a": {...}}
    response  {"id": n, "r": result}  or  {"id": n, "e": "message", "s": status}
    stream    {"id": n, "p": payload} … {"id": n, "end": true}   (answers to a streaming method)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gitlab_ha.discovery.waits import cancel_and_wait, within

log = logging.getLogger("gitlab_ha.discovery.rpc")

MAX_FRAME = 64 * 1024 * 1024
CONNECT_TIMEOUT = 2.0
_LEN = struct.Struct(">I")

Handler = Callable[[Any], Awaitable[Any]]
StreamHandler = Callable[[Any, "StreamSink"], Awaitable[None]]


class RPCError(Exception):
    """A call refused by the far side (`status` as Consul's HTTP status) or not delivered (status 0)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Unreachable(RPCError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 0)


async def read_frame(reader: asyncio.StreamReader) -> Any:
    head = await reader.readexactly(4)
    (size,) = _LEN.unpack(head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the limit")
    return json.loads(await reader.readexactly(size))


def encode_frame(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _LEN.pack(len(body)) + body


class StreamSink:
    """What a streaming handler writes to; `send` waits while the peer is slow (back-pressure)."""

    def __init__(self, writer: asyncio.StreamWriter, ident: int) -> None:
        self._writer = writer
        self._id = ident

    async def send(self, payload: Any) -> None:
        self._writer.write(encode_frame({"id": self._id, "p": payload}))
        await self._writer.drain()


class RPCServer:
    def __init__(
        self,
        handlers: dict[str, Handler],
        streams: dict[str, StreamHandler],
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handlers = handlers
        self.streams = streams
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, ssl=self.ssl_context, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Exception too: a connection that died of an error must not keep the server from closing
        await cancel_and_wait(self._conns, also=(Exception,))
        if self._server is not None:
            with contextlib.suppress(Exception):
                await within(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    msg = await read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, ValueError, OSError):
                    return
                if not isinstance(msg, dict) or not isinstance(msg.get("id"), int) or not isinstance(msg.get("m"), str):
                    return
                job = asyncio.create_task(self._one(msg, writer))
                running.add(job)
                job.add_done_callback(running.discard)
        finally:
            for job in list(running):
                job.cancel()
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        ident, method, args = msg["id"], msg["m"], msg.get("a")
        try:
            if method in self.streams:
                await self.streams[method](args, StreamSink(writer, ident))
                reply: dict[str, Any] = {"id": ident, "end": True}
            elif method in self.handlers:
                reply = {"id": ident, "r": await self.handlers[method](args)}
            else:
                reply = {"id": ident, "e": f"unknown method {method!r}", "s": 400}
        except RPCError as exc:
            reply = {"id": ident, "e": exc.message, "s": exc.status}
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError):
            return
        except Exception as exc:
            log.exception("RPC %s failed", method)
            reply = {"id": ident, "e": f"Internal error: {type(exc).__name__}", "s": 500}
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.write(encode_frame(reply))
            await writer.drain()


class Connection:
    """One multiplexed connection to a server; calls and streams share it."""

    def __init__(self, address: str, ssl_context: ssl.SSLContext | None, server_hostname: str | None) -> None:
        self.address = address
        self._ssl = ssl_context
        self._hostname = server_hostname
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._streams: dict[int, asyncio.Queue[Any]] = {}
        self._reading: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock = asyncio.Lock()
        self.closed = False

    async def _ensure(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            host, _, port = self.address.rpartition(":")
            try:
                reader, writer = await within(
                    asyncio.open_connection(
                        host.strip("[]"),
                        int(port),
                        ssl=self._ssl,
                        server_hostname=self._hostname if self._ssl else None,
                    ),
                    CONNECT_TIMEOUT,
                )
            except ssl.SSLCertVerificationError as exc:
                raise Unreachable(f"{self.address}: TLS: {exc.verify_message or exc}") from None
            except (OSError, TimeoutError, ssl.SSLError, ValueError) as exc:
                raise Unreachable(f"{self.address}: {getattr(exc, 'strerror', None) or exc or 'timed out'}") from None
            self._reader, self._writer = reader, writer
            self._reading = asyncio.create_task(self._read(reader))
            return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                msg = await read_frame(reader)
                ident = msg.get("id") if isinstance(msg, dict) else None
                if ident in self._streams:
                    await self._streams[ident].put(msg)
                    continue
                fut = self._waiting.pop(ident, None)  # type: ignore[arg-type]
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, ValueError, OSError):
            pass
        finally:
            self._fail_all(f"{self.address}: connection lost")

    def _fail_all(self, why: str) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(Unreachable(why))
        self._waiting.clear()
        for queue in self._streams.values():
            queue.put_nowait({"lost": why})

    async def call(self, method: str, args: Any, timeout: float) -> Any:
        writer = await self._ensure()
        self._next += 1
        ident = self._next
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = fut
        try:
            writer.write(encode_frame({"id": ident, "m": method, "a": args}))
            await within(writer.drain(), timeout)
            msg = await within(fut, timeout)
        except TimeoutError:
            raise Unreachable(f"{self.address}: {method} timed out after {timeout:g}s") from None
        except (ConnectionError, OSError, RuntimeError) as exc:
            self._fail_all(str(exc))
            raise Unreachable(f"{self.address}: {exc}") from None
        finally:
            self._waiting.pop(ident, None)
        if "e" in msg:
            raise RPCError(str(msg["e"]), int(msg.get("s", 500)))
        return msg.get("r")

    async def stream(self, method: str, args: Any) -> AsyncIterator[Any]:
        writer = await self._ensure()
        self._next += 1
        ident = self._next
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._streams[ident] = queue
        try:
            writer.write(encode_frame({"id": ident, "m": method, "a": args}))
            await writer.drain()
            while True:
                msg = await queue.get()
                if "lost" in msg:
                    raise Unreachable(msg["lost"])
                if "e" in msg:
                    raise RPCError(str(msg["e"]), int(msg.get("s", 500)))
                if msg.get("end"):
                    return
                yield msg.get("p")
        finally:
            self._streams.pop(ident, None)

    def close(self) -> None:
        self.closed = True
        if self._reading is not None:
            self._reading.cancel()
        self._fail_all(f"{self.address}: closed")


class Pool:
    """Connections by address, made on first use and remade after a failure."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> None:
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self._conns: dict[str, Connection] = {}

    def get(self, address: str) -> Connection:
        conn = self._conns.get(address)
        if conn is None or conn.closed:
            conn = Connection(address, self.ssl_context, self.server_hostname)
            self._conns[address] = conn
        return conn

    async def call(self, address: str, method: str, args: Any, timeout: float = 5.0) -> Any:
        return await self.get(address).call(method, args, timeout)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
