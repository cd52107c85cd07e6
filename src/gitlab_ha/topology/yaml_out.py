"""Write a preset as a commented YAML topology file that a person can edit.

PyYAML drops comments, so the layout is written here line by line; every value goes through
`yaml.safe_dump` so quoting is always right, and the result is checked by loading it back.
"""

from __future__ import annotations

import yaml

from gitlab_ha.topology.model import OBJECT_TYPES
from gitlab_ha.topology.presets import Preset, PresetNode
from gitlab_ha.topology.roles import Role


def _scalar(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def topology_yaml(preset: Preset, nodes: list[PresetNode], *, cluster_name: str | None = None) -> str:
    name = cluster_name or preset.name
    has_rails = any(Role.RAILS in n.roles or Role.STANDALONE in n.roles for n in nodes)
    lines = [
        f"# gitlab-ha topology, made by `gitlab-ha init --preset {preset.name}`.",
        f"# {preset.description}.",
        "# Edit freely: names, addresses, roles, sizes. `gitlab-ha roles` lists the role vocabulary;",
        "# `gitlab-ha validate` checks this file; `gitlab-ha render` turns it into every node's config.",
        f"name: {_scalar(name)}",
        "",
        "gitlab:",
        f"  version: {_scalar(preset.version)}   # Omnibus release to render for (16.0 to 19.x)",
        "  edition: ee   # ee or ce",
        "  external_url: https://gitlab.example.com   # the URL users reach through the external load balancer",
        "",
    ]
    if has_rails:
        lines += [
            "# Object storage for uploads, artifacts, LFS ...: one bucket per object type.",
            "# Credentials are never written here, only where to find them:",
            "#   env: PREFIX           -> PREFIX_ACCESS_KEY_ID and PREFIX_SECRET_ACCESS_KEY at render time",
            "#   file: PATH            -> a KEY=VALUE file with ACCESS_KEY_ID and SECRET_ACCESS_KEY",
            "#   use_iam_profile: true -> the instance role of the Rails and Sidekiq nodes (AWS)",
            "object_storage:",
            "  provider: AWS   # AWS, Google or AzureRM",
            "  region: us-east-1",
            "  credentials:",
            "    use_iam_profile: true",
            "  buckets:",
        ]
        lines += [f"    {kind}: {_scalar(f'{name}-{kind}'.replace('_', '-'))}" for kind in OBJECT_TYPES]
        lines.append("")
    lines += [
        "database:",
        "  name: gitlabhq_production",
        "  # true: Patroni synchronous replication; a failover loses no acknowledged commit,",
        "  # at the price of commits waiting for a replica.",
        "  synchronous_mode: false",
        "",
        "# Failover timing. Unset values keep Omnibus' defaults (Patroni ttl 30 s, loop_wait 10 s, retry_timeout",
        "# 10 s; Sentinel down-after 10000 ms; the leader check every 10 s): PgBouncer then follows a lost",
        "# primary after about 40 s. `gitlab-ha lab up` rehearses with a fast profile unless --profile omnibus.",
        "# Patroni refuses ttl below 20 s, and needs loop_wait + 2 x retry_timeout <= ttl (docs/topology.md).",
        "ha:",
        "  patroni: {}      # ttl, loop_wait, retry_timeout, maximum_lag_on_failover, session_checks: [serfHealth]",
        "  sentinel: {}     # down_after_milliseconds, failover_timeout",
        "  consul: {}       # check_interval: 2s",
        "  pgbouncer: {}    # server_login_retry (Omnibus 15 s)",
        "",
    ]
    redis_nodes = [n for n in nodes if Role.REDIS in n.roles]
    if len(redis_nodes) > 1:
        lines += [
            "# The Redis node that starts as master (Sentinel moves it on failover).",
            f"redis_primary: {_scalar(redis_nodes[0].name)}",
            "",
        ]
    lines.append("nodes:")
    last_comment = None
    for node in nodes:
        if node.comment != last_comment:
            lines.append(f"  # {node.comment}")
            last_comment = node.comment
        lines.append(f"  - name: {_scalar(node.name)}")
        lines.append(f"    address: {_scalar(node.address)}")
        lines.append(f"    roles: [{', '.join(r.value for r in node.roles)}]")
        if node.size:
            lines.append(f"    size: {_scalar(node.size)}")
    text = "\n".join(lines) + "\n"
    yaml.safe_load(text)  # a programming error here must never reach the user's file
    return text
