"""Keys the tool knows without a `gitlab.rb.template`: Omnibus' setting groups, and every key the
renderer itself writes at the target release. Enough to catch the typical typo (`pumaa['listen']`,
`puma['listen_adress']`) when no template is at hand; the template remains the full list.
"""

from __future__ import annotations

import difflib
import functools

from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.versions import Version
from gitlab_ha.topology.yaml_out import topology_yaml

# Omnibus' top-level setting groups (its cookbooks' attribute roots), 16.x to 19.x.
GROUPS: frozenset[str] = frozenset(
    [
        "actioncable",
        "alertmanager",
        "bootstrap",
        "consul",
        "crond",
        "default",
        "geo_logcursor",
        "geo_postgresql",
        "geo_secondary",
        "gitaly",
        "gitaly_client",
        "gitlab_backup_cli",
        "gitlab_ci",
        "gitlab_exporter",
        "gitlab_kas",
        "gitlab_kas_nginx",
        "gitlab_pages",
        "gitlab_rails",
        "gitlab_shell",
        "gitlab_sshd",
        "gitlab_workhorse",
        "high_availability",
        "letsencrypt",
        "logging",
        "logrotate",
        "mailroom",
        "manage_accounts",
        "manage_storage_directories",
        "mattermost",
        "mattermost_nginx",
        "monitoring",
        "monitoring_role",
        "nginx",
        "node_exporter",
        "oak",
        "omnibus_gitconfig",
        "package",
        "pages_nginx",
        "patroni",
        "pgbouncer",
        "pgbouncer_exporter",
        "postgres_exporter",
        "postgresql",
        "praefect",
        "prometheus",
        "prometheus_monitoring",
        "puma",
        "redis",
        "redis_exporter",
        "redis_master_role",
        "redis_replica_role",
        "redis_sentinel_role",
        "registry",
        "registry_nginx",
        "remote_syslog",
        "runit",
        "sentinel",
        "sidekiq",
        "spamcheck",
        "storage_check",
        "suggested_reviewers",
        "user",
        "web_server",
    ]
)


# Without --version (nor topology), near misses are looked for among the keys of the newest release.
NO_VERSION = Version(19, 3, 0)


@functools.cache
def rendered_keys(version: Version) -> frozenset[str]:
    """Every key `render` writes at `version`, over the presets that use every role."""
    from gitlab_ha.render.context import Context, Placeholders  # the renderer is only needed for this
    from gitlab_ha.render.node import render_gitlab_rb

    keys: set[str] = set()
    name = "ref-50k"  # every role, on nodes of its own (the seed's co-located roles add no key)
    preset = PRESETS[name]
    topo = load_text(topology_yaml(preset, expand(preset)), name).topology
    topo = topo.model_copy(
        update={
            "gitlab": topo.gitlab.model_copy(update={"version": version}),
            "consul": topo.consul.model_copy(update={"tls": "mutual_patroni"}),  # the TLS keys too
        }
    )
    ctx = Context(topo, Placeholders())
    seen_roles: set[tuple[str, ...]] = set()
    for node in topo.nodes:
        roles = tuple(sorted(r.value for r in node.roles))
        if node.omnibus and roles not in seen_roles:
            seen_roles.add(roles)  # nodes of the same roles set the same keys: render one
            keys.update(key for key in render_gitlab_rb(ctx, node, name).keys if "[" in key)
    return frozenset(keys)


def near_miss(key: str, version: Version) -> str | None:
    """A key the renderer writes that `key` is probably a misspelling of (same path, last part close)."""
    head, sep, last = key.rpartition("[")
    if not sep or len(last) < 6:
        return None
    known = rendered_keys(version)
    if key in known:
        return None
    siblings = {k.rpartition("[")[2]: k for k in known if k.rpartition("[")[0] == head}
    close = difflib.get_close_matches(last, list(siblings), n=1, cutoff=0.85)
    return siblings[close[0]] if close else None


def unknown_group(key: str) -> str | None:
    """Why the setting group of `key` is not Omnibus', with the closest group, or None if it is."""
    group = key.split("[", 1)[0]
    if group in GROUPS:
        return None
    close = difflib.get_close_matches(group, list(GROUPS), n=1, cutoff=0.75)
    return f"{group} is no Omnibus setting group" + (f" (did you mean {close[0]}?)" if close else "")
