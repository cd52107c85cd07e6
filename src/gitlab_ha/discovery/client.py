"""The project's one Consul HTTP client: py-consul, plus a raw call where py-consul cannot serve.

py-consul (pinned; the library Patroni's own Consul DCS is built on) is the transport and offers every
typed call: `client.api.kv.get(...)`, `client.api.session.create(...)`, `client.api.agent.members()` ….
This module adds one thing, `call()`, which goes through py-consul's own transport but hands back the
reply as it came — status, body text, headers — because:

- Consul's CLI prints "Unexpected response code: 400 (<body>)" verbatim, and `gitlab-ha consul` must
  too, while py-consul folds status and body into exception strings (and a 404 into None);
- tests send malformed requests on purpose and check the exact status, body and `X-Consul-Index`;
- the watch runner needs the `X-Consul-Index` of every blocking read, a 404 included.

`AsyncConsulClient` is the same over py-consul's asyncio transport, for the agent's watch runner.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import consul

from gitlab_ha.errors import InputError

DEFAULT_HTTP_ADDR = "http://127.0.0.1:8500"
DEFAULT_TIMEOUT = 30.0

Params = Mapping[str, str] | Sequence[tuple[str, str]]
Body = bytes | str | None


@dataclass(frozen=True)
class Reply:
    """An HTTP reply as the agent sent it."""

    status: int
    text: str
    headers: Mapping[str, str]

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("Content-Type", "")

    @property
    def data(self) -> Any:
        """The body: decoded JSON when the agent says it is JSON, else the text."""
        return json.loads(self.text or "null") if self.is_json else self.text

    @property
    def index(self) -> int:
        return int(self.headers.get("X-Consul-Index", "0") or 0)


class Unreachable(OSError):
    """The agent could not be reached (or did not answer in time): `METHOD URL: reason`."""


class UnexpectedResponse(Exception):
    """A reply other than 200, in the words of Consul's CLI: `WHAT: Unexpected response code: N (body)`."""

    def __init__(self, what: str, reply: Reply) -> None:
        super().__init__(f"{what}: Unexpected response code: {reply.status} ({reply.text.strip()})")
        self.reply = reply


def parse_address(address: str) -> tuple[str, str, int]:
    """`-http-addr` / `CONSUL_HTTP_ADDR` as Consul reads it (`host:port` or `http[s]://host:port`) -> scheme, host, port."""
    text = address.strip()
    if text.startswith("unix://"):
        raise InputError("unix sockets are not supported", "-http-addr")
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"invalid address {address!r}", "-http-addr") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"invalid address {address!r}", "-http-addr")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _reason(exc: BaseException) -> str:
    """The innermost OS-level cause (`[Errno 111] Connection refused`, `timed out`) of a transport error."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        if type(item).__module__ == "builtins" and isinstance(item, OSError):
            return str(item)
        todo += [
            a for a in (item.__cause__, item.__context__, getattr(item, "reason", None)) if isinstance(a, BaseException)
        ]
        todo += [a for a in item.args if isinstance(a, BaseException)]
    return str(exc) or type(exc).__name__


def _split(path: str, params: Params | None) -> tuple[str, list[tuple[str, str]]]:
    """A path that may carry its own `?query`, plus params -> the bare path and one list of params."""
    bare, _, query = path.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if params:
        pairs += list(params.items()) if isinstance(params, Mapping) else list(params)
    return bare, pairs


def _reply(response: Any) -> Reply:
    body = response.body
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    return Reply(int(response.code), text, response.headers)


class ConsulClient:
    """A client of the agent at `address`; `api` is py-consul's, `call` the raw one."""

    def __init__(
        self,
        address: str = DEFAULT_HTTP_ADDR,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: Path | None = None,
        client_cert: tuple[Path, Path] | None = None,
    ) -> None:
        """`ca_file` verifies an https agent's certificate (else the system's CAs do); `client_cert` is the
        (certificate, key) an agent with `verify_incoming` asks for. Consul's CLI reads the same from
        CONSUL_CACERT, CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY (`from_environment`)."""
        scheme, host, port = parse_address(address)
        if (ca_file or client_cert) and scheme != "https":
            raise InputError("a CA file or client certificate needs an https:// address", "-http-addr")
        self.address = f"{scheme}://{host}:{port}"
        verify: bool | str = str(ca_file) if ca_file else True
        cert = (str(client_cert[0]), str(client_cert[1])) if client_cert else None
        self.api: Any = consul.Consul(
            host=host, port=port, scheme=scheme, verify=verify, cert=cert, connections_timeout=timeout
        )

    @classmethod
    def from_environment(cls, address: str, environ: Mapping[str, str]) -> ConsulClient:
        """The client Consul's CLI would make: CONSUL_CACERT, and CONSUL_CLIENT_CERT with CONSUL_CLIENT_KEY
        (both or neither). A file named there must exist: a TLS setting is never silently dropped."""
        ca = environ.get("CONSUL_CACERT", "")
        cert, key = environ.get("CONSUL_CLIENT_CERT", ""), environ.get("CONSUL_CLIENT_KEY", "")
        if bool(cert) != bool(key):
            raise InputError("set both CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY, or neither", "environment")
        for name, value in (("CONSUL_CACERT", ca), ("CONSUL_CLIENT_CERT", cert), ("CONSUL_CLIENT_KEY", key)):
            if value and not Path(value).is_file():
                raise InputError(f"no such file {value}", name)
        return cls(address, ca_file=Path(ca) if ca else None, client_cert=(Path(cert), Path(key)) if cert else None)

    def call(self, method: str, path: str, *, params: Params | None = None, body: Body = None) -> Reply:
        """`METHOD path` (unquoted; it may carry a `?query`) with `body`; the reply whatever its status.

        Unreachable when the agent cannot be reached. Blocking reads (`index=`) get their `wait` on top
        of the timeout, as py-consul gives them.
        """
        bare, pairs = _split(path, params)
        http = self.api.http
        headers = self.api.prepare_headers()
        data = body.encode() if isinstance(body, str) else (body or b"")
        try:
            if method == "GET":
                reply: Reply = http.get(_reply, bare, params=pairs, headers=headers)
            elif method == "PUT":
                reply = http.put(_reply, bare, params=pairs, data=data, headers=headers)
            elif method == "DELETE":
                reply = http.delete(_reply, bare, params=pairs, data=data, headers=headers)
            elif method == "POST":
                reply = http.post(_reply, bare, params=pairs, data=data, headers=headers)
            else:
                raise ValueError(f"unsupported method {method}")
        except OSError as exc:  # requests' errors are OSErrors
            raise Unreachable(f"{method} {http.uri(bare, pairs)}: {_reason(exc)}") from None
        return reply

    def ok(self, method: str, path: str, what: str, *, params: Params | None = None, body: Body = None) -> Any:
        """The decoded body of a 200 reply; UnexpectedResponse (worded as Consul's CLI words it) otherwise."""
        reply = self.call(method, path, params=params, body=body)
        if reply.status != 200:
            raise UnexpectedResponse(what, reply)
        return reply.data

    def close(self) -> None:
        self.api.http.session.close()

    def __enter__(self) -> ConsulClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncConsulClient:
    """`ConsulClient.call` over py-consul's asyncio transport; use it as `async with` inside a running loop."""

    def __init__(self, address: str = DEFAULT_HTTP_ADDR, *, token: str = "") -> None:
        scheme, host, port = parse_address(address)
        self.address = f"{scheme}://{host}:{port}"
        self._where = (host, port, scheme)
        self._token = token or None
        self.api: Any = None

    async def __aenter__(self) -> AsyncConsulClient:
        import consul.aio  # aiohttp's client (~0.3 s of imports), for the watch runner only

        host, port, scheme = self._where
        self.api = consul.aio.Consul(host=host, port=port, scheme=scheme, token=self._token)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.api.close()

    async def get(self, path: str, *, params: Params | None = None, timeout: float = DEFAULT_TIMEOUT) -> Reply:
        """`GET path` (unquoted); the reply whatever its status. aiohttp's errors propagate."""
        bare, pairs = _split(path, params)
        reply: Reply = await self.api.http.get(
            _reply, bare, params=pairs, headers=self.api.prepare_headers(), connections_timeout=timeout
        )
        return reply
