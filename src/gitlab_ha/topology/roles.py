"""The role vocabulary of a topology file.

A node holds one or more roles. Each role says what the node runs; the renderer maps it to
Omnibus roles and settings. The table in `ROLE_DOCS` is the documentation users see
(`gitlab-ha roles`, docs/topology.md).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CONSUL = "consul"
    REDIS = "redis"
    SENTINEL = "sentinel"
    REDIS_CACHE = "redis_cache"
    SENTINEL_CACHE = "sentinel_cache"
    PATRONI = "patroni"
    PGBOUNCER = "pgbouncer"
    POSTGRES = "postgres"
    PRAEFECT_POSTGRES = "praefect_postgres"
    PRAEFECT = "praefect"
    GITALY = "gitaly"
    RAILS = "rails"
    SIDEKIQ = "sidekiq"
    INTERNAL_LB = "internal_lb"
    EXTERNAL_LB = "external_lb"
    MONITORING = "monitoring"
    STANDALONE = "standalone"


ROLE_DOCS: dict[Role, str] = {
    Role.CONSUL: "Consul server (consul_role, server: true). Every other Omnibus node runs a Consul client.",
    Role.REDIS: "Redis data node (redis_master_role on the initial primary, redis_replica_role on the others).",
    Role.SENTINEL: "Redis Sentinel watching the `redis` nodes (redis_sentinel_role).",
    Role.REDIS_CACHE: "Redis data node of a separate cache cluster (10k and larger reference architectures).",
    Role.SENTINEL_CACHE: "Redis Sentinel watching the `redis_cache` nodes.",
    Role.PATRONI: "PostgreSQL for GitLab, managed by Patroni with Consul as its DCS (patroni_role).",
    Role.PGBOUNCER: "PgBouncer in front of the Patroni leader, retargeted by a Consul watch (pgbouncer_role).",
    Role.POSTGRES: "A single PostgreSQL for GitLab without Patroni (postgres_role); no failover.",
    Role.PRAEFECT_POSTGRES: "The PostgreSQL that holds Praefect's database (postgres_role).",
    Role.PRAEFECT: "Praefect, the Gitaly Cluster router (praefect['enable']).",
    Role.GITALY: "Gitaly storage node (gitaly_role from 17.6, gitaly['enable'] before).",
    Role.RAILS: "GitLab Rails: Puma, Workhorse and NGINX (application_role).",
    Role.SIDEKIQ: "Sidekiq background jobs (sidekiq_role).",
    Role.INTERNAL_LB: "HAProxy for internal traffic: PgBouncer 6432, Praefect 2305, Rails 80, Patroni leader.",
    Role.EXTERNAL_LB: "HAProxy for users: HTTP(S) and SSH to the Rails nodes.",
    Role.MONITORING: "Prometheus and Grafana (monitoring_role), finding targets through Consul.",
    Role.STANDALONE: "Everything on one node, as Omnibus installs by default (1k reference architecture).",
}

# Roles that do not run the Omnibus package (HAProxy nodes).
NON_OMNIBUS: frozenset[Role] = frozenset({Role.INTERNAL_LB, Role.EXTERNAL_LB})

# Roles that need a majority to keep working; 1 node is a warning, an even count an error.
QUORUM_ROLES: tuple[Role, ...] = (Role.CONSUL, Role.SENTINEL, Role.SENTINEL_CACHE, Role.PRAEFECT)

# Roles that cannot share a node: they bind the same ports or replace each other.
CONFLICTS: tuple[tuple[Role, Role, str], ...] = (
    (Role.PATRONI, Role.POSTGRES, "both run GitLab's PostgreSQL on 5432"),
    (Role.PATRONI, Role.PRAEFECT_POSTGRES, "both run PostgreSQL on 5432"),
    (Role.POSTGRES, Role.PRAEFECT_POSTGRES, "both run PostgreSQL on 5432"),
    (Role.REDIS, Role.REDIS_CACHE, "both run Redis on 6379"),
    (Role.SENTINEL, Role.SENTINEL_CACHE, "both run Sentinel on 26379"),
    (Role.INTERNAL_LB, Role.RAILS, "both listen on port 80"),
    (Role.INTERNAL_LB, Role.EXTERNAL_LB, "both listen on port 80"),
    (Role.EXTERNAL_LB, Role.RAILS, "both listen on port 80"),
    (Role.PRAEFECT, Role.GITALY, "a Gitaly behind Praefect must be its own node"),
)

# role -> (roles of which at least one must exist in the cluster, why)
REQUIRES: tuple[tuple[Role, tuple[Role, ...], str], ...] = (
    (Role.PRAEFECT, (Role.GITALY,), "Praefect routes to Gitaly nodes"),
    (Role.PRAEFECT, (Role.PRAEFECT_POSTGRES,), "Praefect keeps its state in the Praefect PostgreSQL"),
    (
        Role.PRAEFECT,
        (Role.INTERNAL_LB,),
        "Rails reaches the Praefect nodes through the internal load balancer",
    ),
    (Role.PGBOUNCER, (Role.PATRONI,), "PgBouncer follows the Patroni leader"),
    (
        Role.PGBOUNCER,
        (Role.INTERNAL_LB,),
        "Rails reaches the PgBouncer nodes through the internal load balancer",
    ),
    (Role.PGBOUNCER, (Role.CONSUL,), "PgBouncer's watcher learns the leader from Consul"),
    (Role.PATRONI, (Role.CONSUL,), "Omnibus Patroni uses Consul as its DCS"),
    (Role.PATRONI, (Role.PGBOUNCER,), "Rails reaches Patroni through PgBouncer"),
    (Role.SENTINEL, (Role.REDIS,), "Sentinel watches the Redis nodes"),
    (Role.SENTINEL_CACHE, (Role.REDIS_CACHE,), "the cache Sentinels watch the cache Redis nodes"),
    (Role.REDIS_CACHE, (Role.SENTINEL_CACHE,), "a Redis cache cluster needs its Sentinels"),
    (Role.RAILS, (Role.REDIS,), "Rails keeps sessions and jobs in Redis"),
    (Role.RAILS, (Role.PATRONI, Role.POSTGRES), "Rails needs a PostgreSQL"),
    (Role.RAILS, (Role.GITALY,), "Rails stores repositories on Gitaly"),
    (Role.SIDEKIQ, (Role.REDIS,), "Sidekiq takes its jobs from Redis"),
    (Role.SIDEKIQ, (Role.PATRONI, Role.POSTGRES), "Sidekiq needs a PostgreSQL"),
    (Role.SIDEKIQ, (Role.GITALY,), "Sidekiq reads repositories on Gitaly"),
    (Role.SIDEKIQ, (Role.RAILS,), "Sidekiq runs beside a Rails web tier"),
    (Role.EXTERNAL_LB, (Role.RAILS,), "the external load balancer sends users to Rails"),
    (
        Role.INTERNAL_LB,
        (Role.PGBOUNCER, Role.PRAEFECT, Role.RAILS),
        "the internal load balancer has no backend",
    ),
)
