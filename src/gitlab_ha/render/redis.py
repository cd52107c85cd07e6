"""Redis data nodes and Sentinel (main cluster, and the separate cache cluster of 10k+)."""

from __future__ import annotations

from gitlab_ha.render.context import Context
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.topology.facts import PORTS, majority, redis_cache_maxmemory
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role


def omnibus_roles(ctx: Context, node: Node) -> list[str]:
    roles: list[str] = []
    for data_role, cache in ((Role.REDIS, False), (Role.REDIS_CACHE, True)):
        if node.has(data_role):
            master = ctx.topo.redis_master(cache=cache)
            is_master = master is not None and master.name == node.name
            roles.append("redis_master_role" if is_master else "redis_replica_role")
    if node.has(Role.SENTINEL) or node.has(Role.SENTINEL_CACHE):
        roles.append("redis_sentinel_role")
    return roles


def master_name(ctx: Context, cache: bool) -> str:
    return ctx.topo.redis.cache_master_name if cache else ctx.topo.redis.master_name


def sentinel_nodes(ctx: Context, cache: bool) -> list[Node]:
    return ctx.nodes(Role.SENTINEL_CACHE if cache else Role.SENTINEL)


def render(ctx: Context, node: Node, rb: RbBuilder) -> None:
    data = node.has(Role.REDIS) or node.has(Role.REDIS_CACHE)
    sentinel = node.has(Role.SENTINEL) or node.has(Role.SENTINEL_CACHE)
    if not (data or sentinel):
        return
    cache = node.has(Role.REDIS_CACHE) or node.has(Role.SENTINEL_CACHE)
    password = ctx.secrets.get("redis_password")
    master = ctx.topo.redis_master(cache=cache)
    sentinels = sentinel_nodes(ctx, cache)
    if data:
        rb.section("Redis" + (" (cache cluster)" if cache else ""))
        rb.set("redis", "bind", value=node.ip)
        rb.set("redis", "port", value=PORTS["redis"])
        rb.set("redis", "password", value=password)
        if not (node.has(Role.RAILS) or node.has(Role.SIDEKIQ)):
            rb.set("gitlab_rails", "enable", value=False)
        if node.has(Role.REDIS_CACHE):
            rb.comment(
                "A cache: evict the least recently used keys at 90% of the node's RAM (GitLab's reference\n"
                "architectures). The persistent cluster keeps Omnibus' noeviction: its queues must stay."
            )
            rb.set("redis", "maxmemory", value=redis_cache_maxmemory(node.size))
            rb.set("redis", "maxmemory_policy", value="allkeys-lru")
            rb.set("redis", "maxmemory_samples", value=5)
    if sentinels and master is not None:
        rb.set("redis", "master_name", value=master_name(ctx, cache))
        rb.set("redis", "master_password", value=password)
        rb.set("redis", "master_ip", value=master.ip, comment="the initial master; Sentinel moves it on failover")
    if sentinel:
        rb.section("Sentinel")
        rb.set("sentinel", "bind", value=node.ip)
        rb.set("sentinel", "quorum", value=majority(len(sentinels)), comment=f"majority of {len(sentinels)}")
        timing = ctx.topo.ha.sentinel
        if timing.down_after_milliseconds is not None:
            rb.set("sentinel", "down_after_milliseconds", value=timing.down_after_milliseconds)
        if timing.failover_timeout is not None:
            rb.set("sentinel", "failover_timeout", value=timing.failover_timeout)
    if data:
        rb.section("Monitoring")
        rb.set("redis_exporter", "listen_address", value=f"{node.ip}:{PORTS['redis_exporter']}")
        rb.set(
            "redis_exporter",
            "flags",
            value={"redis.addr": f"redis://{node.ip}:{PORTS['redis']}", "redis.password": password},
        )
