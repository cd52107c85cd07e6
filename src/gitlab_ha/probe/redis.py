"""Redis and Sentinel: each Redis' role, offset and link state; each Sentinel's master and CKQUORUM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gitlab_ha.probe.model import Component, Row, Verdict
from gitlab_ha.probe.target import Target
from gitlab_ha.topology.facts import PORTS

T = TypeVar("T")


def redis_client(
    host: str, port: int, *, timeout: float, password: str | None = None, text: bool = False
) -> redis.Redis:
    """One try per call: redis-py retries a refused or timed-out connection three times with backoff by
    default (4.5 s on a dead node), which held every probe, and the failover bench's writer, on a lost
    node's address long after Sentinel named the new master. The callers retry (and re-ask Sentinel)."""
    return redis.Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=timeout,
        decode_responses=text,
        retry=Retry(NoBackoff(), 0),
    )


def parse_redis(infos: dict[str, tuple[str, dict[str, Any] | None]]) -> tuple[list[Row], str | None]:
    """`infos`: node → (address, INFO replication or None); (rows, the master's address)."""
    masters = [addr for addr, info in infos.values() if info and info.get("role") == "master"]
    master = masters[0] if len(masters) == 1 else None
    rows = []
    for name, (address, info) in sorted(infos.items()):
        if info is None:
            rows.append(Row(name, "redis", "unreachable", address, ok=False))
        elif info.get("role") == "master":
            rows.append(
                Row(
                    name,
                    "redis master",
                    "up",
                    f"{info.get('connected_slaves', 0)} replicas, offset {info.get('master_repl_offset')}",
                    len(masters) == 1,
                )
            )
        else:
            link = str(info.get("master_link_status"))
            follows = str(info.get("master_host"))
            ok = link == "up" and (master is None or follows == master)
            rows.append(
                Row(name, "redis replica", f"link {link}", f"of {follows}, offset {info.get('slave_repl_offset')}", ok)
            )
    return rows, master


def parse_sentinels(views: dict[str, tuple[str, Any, str | None]], master: str | None) -> list[Row]:
    """`views`: node → (address, [master ip, port] or None, CKQUORUM reply or error)."""
    rows = []
    for name, (address, addr, quorum) in sorted(views.items()):
        if addr is None:
            rows.append(Row(name, "sentinel", "unreachable", f"{address}: {quorum}", ok=False))
            continue
        says = f"{addr[0]}:{addr[1]}"
        ok = (master is None or addr[0] == master) and bool(quorum) and str(quorum).startswith("OK")
        rows.append(Row(name, "sentinel", f"master {says}", str(quorum), ok))
    return rows


def collect(target: Target) -> Component:
    password = target.secret("redis_password")
    infos: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for node in target.running("redis"):
        client = redis_client(node.address, node.redis_port, timeout=2, password=password)
        try:
            infos[node.name] = (node.address, client.info("replication"))
        except redis.RedisError:
            infos[node.name] = (node.address, None)
        finally:
            client.close()
    rows, master = parse_redis(infos)
    views: dict[str, tuple[str, Any, str | None]] = {}
    for node in target.running("sentinel"):
        client = redis_client(node.address, PORTS["sentinel"], timeout=2, text=True)
        try:
            addr = client.sentinel_get_master_addr_by_name(target.redis_master_name)
            try:
                # the raw reply: redis-py's sentinel_ckquorum() compares it with "OK" and is always False
                # for Redis 7's "OK 3 usable Sentinels. …"
                command: Any = client.execute_command  # untyped in redis-py
                quorum: str | None = str(command("SENTINEL", "CKQUORUM", target.redis_master_name))
            except redis.ResponseError as err:
                quorum = f"NOQUORUM {err}"
            views[node.name] = (node.address, addr, quorum)
        except redis.RedisError as err:
            views[node.name] = (node.address, None, str(err))
        finally:
            client.close()
    rows += parse_sentinels(views, master)
    if not rows:
        return Component("Redis", Verdict.NOT_RUNNABLE, "no Redis in this topology", rows)
    if master is None:
        return Component("Redis", Verdict.DOWN, "no single master", rows)
    verdict = Verdict.OK if all(r.ok for r in rows) else Verdict.DEGRADED
    return Component("Redis", verdict, f"master {master}", rows)


def ask_sentinels(
    sentinels: list[tuple[str, int]], ask: Callable[[redis.Redis], T | None], timeout: float = 1.0
) -> T | None:
    """The first useful answer of `ask` from the Sentinels in turn (None from all: None)."""
    for host, port in sentinels:
        client = redis_client(host, port, timeout=timeout, text=True)
        try:
            answer = ask(client)
        except redis.RedisError:
            continue
        finally:
            client.close()
        if answer is not None:
            return answer
    return None


def discover_master(sentinels: list[tuple[str, int]], name: str, timeout: float = 1.0) -> tuple[str, int] | None:
    """The master the first answering Sentinel names, as a Sentinel-aware client finds it."""

    def ask(client: redis.Redis) -> tuple[str, int] | None:
        addr = client.sentinel_get_master_addr_by_name(name)
        if isinstance(addr, (list, tuple)) and len(addr) == 2:
            return str(addr[0]), int(addr[1])
        return None

    return ask_sentinels(sentinels, ask, timeout)
