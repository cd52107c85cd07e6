"""Lint rules, one module per family; importing this package registers them all."""

from gitlab_ha.lint.rules import (  # noqa: F401
    consul_redis,
    consul_tls,
    database,
    files,
    gitaly,
    haproxy_rules,
    meaning,
    replication,
    secrets,
    spof,
)
