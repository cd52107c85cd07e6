"""The one Consul client against a real agent: py-consul calls, the raw call, its errors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

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
from tests.helpers import cli


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


def test_tls_settings_from_the_environment_are_used_or_refused(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "c.pem", "c-key.pem"))
    for path in (ca, cert, key):
        path.write_text("-")
    env = {"CONSUL_CACERT": str(ca), "CONSUL_CLIENT_CERT": str(cert), "CONSUL_CLIENT_KEY": str(key)}
    client = ConsulClient.from_environment("https://127.0.0.1:8501", env)
    assert (client.api.http.verify, client.api.http.cert) == (str(ca), (str(cert), str(key)))
    assert ConsulClient.from_environment("https://127.0.0.1:8501", {}).api.http.verify is True
    with pytest.raises(InputError, match="both CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY"):
        ConsulClient.from_environment("https://127.0.0.1:8501", {"CONSUL_CLIENT_CERT": str(cert)})
    with pytest.raises(InputError, match="CONSUL_CACERT: no such file /nonexistent"):
        ConsulClient.from_environment("https://127.0.0.1:8501", {"CONSUL_CACERT": "/nonexistent"})
    with pytest.raises(InputError, match="needs an https:// address"):
        ConsulClient.from_environment("127.0.0.1:8500", {"CONSUL_CACERT": str(ca)})
    done = cli("consul", "members", env={**os.environ, "CONSUL_CLIENT_KEY": str(key)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "CONSUL_CLIENT_CERT" in done.stderr


# py-consul 1.8's asyncio transport passes aiohttp an argument aiohttp has deprecated (its code, not ours)
@pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning")
def test_async_client_reads_index_of_a_404(agent: RunningAgent) -> None:
    async def main() -> tuple[int, int]:
        async with AsyncConsulClient(agent.url) as client:
            reply = await client.get("/v1/kv/missing")
            return reply.status, reply.index

    status, index = asyncio.run(main())
    assert status == 404 and index >= 1
