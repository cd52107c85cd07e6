"""The DNS workers' zone follows the replica the agent answers from, through every way it changes: a
command applied (a server's Raft entry, a client's streamed entry) and a snapshot put in its place (one
installed from the leader, a client's first or renewed stream). In process: the agent's hooks, and a
stand-in worker that applies exactly the messages a real one would read on its stdin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from gitlab_ha.discovery.agent import Agent
from gitlab_ha.discovery.config import AgentConfig, finish_config
from gitlab_ha.discovery.dns import Resolver, Settings, Zone
from gitlab_ha.discovery.dns_server import DNSService
from gitlab_ha.discovery.persist import Entry, encode_snapshot
from gitlab_ha.discovery.state import (
    SERF_CHECK,
    Command,
    DeregisterService,
    RegisterNode,
    RegisterService,
    State,
    UpdateCheck,
)


class Worker:
    """What a DNS worker does with its stdin: start from the zone snapshot, then apply each update."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.zone = Zone()
        self.zone.apply(snapshot)
        self.resolver = Resolver(self.zone, Settings())

    def read(self, message: dict[str, Any]) -> None:
        if "zone" in message:
            self.zone.apply(message["zone"])

    def addresses(self, name: str) -> list[str]:
        reply = DNSRecord.parse(self.resolver.handle(DNSRecord.question(name, "A").pack(), udp=False) or b"")
        if reply.header.rcode == RCODE.NXDOMAIN:
            return []
        return sorted(str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A)


class Workers(DNSService):
    """The agent's DNSService with one stand-in worker instead of processes."""

    def __init__(self, agent: Agent) -> None:
        super().__init__(agent.zone_sync, Settings(), ["127.0.0.1"], 0, workers=1)
        self.worker = Worker(self.sync.snapshot())

    def send(self, message: dict[str, Any]) -> None:
        self.worker.read(message)


def _service(sid: str, name: str, address: str) -> dict[str, Any]:
    return {"ID": sid, "Service": name, "Tags": [], "Address": address, "Port": 80, "Meta": {},
            "EnableTagOverride": False, "Weights": {"Passing": 1, "Warning": 1}}  # fmt: skip


def _catalog(*commands: Command) -> State:
    state = State()
    for cmd in commands:
        state.apply(cmd)
    return state


WEB = (RegisterNode("n1", "id-1", "10.0.0.1", "dc1"), RegisterService("n1", _service("web1", "web", "10.0.1.1")))


@pytest.fixture
def client() -> Iterator[Agent]:
    config = AgentConfig(node_name="c1", server=False, server_explicit=True, retry_join=["127.0.0.1"])
    finish_config(config)
    agent = Agent(config)
    yield agent
    agent.store.close()


@pytest.fixture
def server() -> Iterator[Agent]:
    config = AgentConfig(node_name="s1", dev=True)
    finish_config(config)
    agent = Agent(config)
    yield agent
    agent.store.close()


def _attach(agent: Agent) -> Worker:
    workers = Workers(agent)
    agent._dns = workers
    return workers.worker


def test_client_dns_follows_its_streamed_snapshot_and_entries(client: Agent) -> None:
    worker = _attach(client)
    assert worker.addresses("web.service.consul") == []
    # the stream starts with a snapshot: the replica is replaced whole
    snapshot = _catalog(*WEB)
    client.cluster._received({"snapshot": snapshot.snapshot(), "index": snapshot.index})  # type: ignore[attr-defined]
    assert worker.addresses("web.service.consul") == ["10.0.1.1"]
    assert worker.addresses("n1.node.consul") == ["10.0.0.1"]
    # then each committed entry, as the server applied it
    at = snapshot.index
    entries = [
        Entry(at + 1, 1, RegisterService("n1", _service("web2", "web", "10.0.1.2"))),
        Entry(at + 2, 1, UpdateCheck("n1", SERF_CHECK, "critical", "Agent not live or unreachable")),
    ]
    client.cluster._received({"entries": [entries[0].to_json()]})  # type: ignore[attr-defined]
    assert worker.addresses("web.service.consul") == ["10.0.1.1", "10.0.1.2"]
    client.cluster._received({"entries": [entries[1].to_json()]})  # type: ignore[attr-defined]
    assert worker.addresses("web.service.consul") == []  # the node failed: its services leave DNS
    # a renewed stream (another server) starts with a snapshot again, in which web1 is gone
    fresh = _catalog(WEB[0], RegisterService("n1", _service("web2", "web", "10.0.1.2")))
    fresh.index = at + 10
    client.cluster._received({"snapshot": fresh.snapshot(), "index": fresh.index})  # type: ignore[attr-defined]
    assert worker.addresses("web.service.consul") == ["10.0.1.2"]
    assert client.zone_sync.zone.index == client.state.index == at + 10


def test_server_dns_follows_raft_entries_and_an_installed_snapshot(server: Agent) -> None:
    worker = _attach(server)
    # a committed entry as Raft applies it (whoever wrote it: this agent, another server, a client)
    for index, cmd in enumerate(WEB, start=1):
        server.state.apply(cmd, index)
    assert worker.addresses("web.service.consul") == ["10.0.1.1"]
    server.state.apply(DeregisterService("n1", "web1"), 3)
    assert worker.addresses("web.service.consul") == []
    # a follower far behind gets the leader's snapshot instead of the entries
    leader = _catalog(*WEB, RegisterService("n1", _service("db1", "db", "10.0.2.1")))
    leader.index = 40
    server.store.install_snapshot(encode_snapshot(40, 3, leader), server.state)
    assert worker.addresses("web.service.consul") == ["10.0.1.1"]
    assert worker.addresses("db.service.consul") == ["10.0.2.1"]


def test_state_restored_before_dns_starts_is_in_the_first_zone(server: Agent) -> None:
    """What the data dir held (a snapshot, then the committed log) is applied before DNS starts: the
    zone a worker starts from already has it."""
    for index, cmd in enumerate(WEB, start=1):
        server.state.apply(cmd, index)
    worker = _attach(server)
    assert worker.addresses("web.service.consul") == ["10.0.1.1"]
