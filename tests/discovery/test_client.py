"""The one Consul client against a real agent: py-consul calls, the raw call, its errors."""

from __future__ import annotations

import asyncio

import pytest

from gitlab_ha.discovery.client import (
    AsyncConsulClient,
    ConsulClient,
    UnexpectedResponse,
    Unreachable,
    parse_address,
)
from gitlab_ha.errors import InputError
from tests.discovery.conftest import RunningAgent, free_port


def test_api_and_raw_call_share_one_client(agent: RunningAgent) -> None:
    with ConsulClient(f"{agent.host}:{agent.http_port}") as client:
        assert client.api.kv.put("app/a b", "1") is True  # py-consul quotes the path
        reply = client.call("GET", "/v1/kv/app/a b?raw")
        assert (reply.status, reply.text, reply.is_json) == (200, "1", False)
        missing = client.call("GET", "/v1/kv/nope")
        assert missing.status == 404 and missing.index >= 1 and missing.data == ""
        assert client.ok("GET", "/v1/kv/app/", "listing", params={"keys": ""}) == ["app/a b"]
        with pytest.raises(UnexpectedResponse, match=r"^refused: Unexpected response code: 400 \(.+\)$"):
            client.ok("PUT", "/v1/session/create", "refused", body='{"Behavior": 3}')


def test_unreachable_names_method_url_and_reason() -> None:
    port = free_port()
    with (
        ConsulClient(f"127.0.0.1:{port}") as client,
        pytest.raises(Unreachable, match=rf"^GET http://127.0.0.1:{port}/v1/agent/members: \[Errno 111\]"),
    ):
        client.call("GET", "/v1/agent/members")


def test_addresses_as_consul_reads_them() -> None:
    assert parse_address("127.0.0.1:8500") == ("http", "127.0.0.1", 8500)
    assert parse_address(" https://127.0.0.2:8501/ ") == ("https", "127.0.0.2", 8501)
    for bad in ("unix:///tmp/consul.sock", "127.0.0.1:port", "ftp://127.0.0.1:1"):
        with pytest.raises(InputError):
            parse_address(bad)


# py-consul 1.8's asyncio transport passes aiohttp an argument aiohttp has deprecated (its code, not ours)
@pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning")
def test_async_client_reads_index_of_a_404(agent: RunningAgent) -> None:
    async def main() -> tuple[int, int]:
        async with AsyncConsulClient(agent.url) as client:
            reply = await client.get("/v1/kv/missing")
            return reply.status, reply.index

    status, index = asyncio.run(main())
    assert status == 404 and index >= 1
