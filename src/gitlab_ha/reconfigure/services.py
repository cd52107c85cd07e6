"""Which services Omnibus runs on a node: roles → service groups → services, then `x['enable']`.

Read from `package/libraries/config/services.rb`, `roles/*.rb` and `settings_dsl.rb` at the release
tags (docs/reconfigure.md):
1. every node gets the `system` group (logrotate, node_exporter);
2. with no service-managing role, the `default` group; otherwise the union of each role's groups;
3. an explicit `x['enable'] = true|false` in gitlab.rb always wins over a role;
4. postgres_exporter follows PostgreSQL and redis_exporter follows Redis unless set;
   `prometheus_monitoring['enable'] = false` turns the whole monitoring group off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitlab_ha.reconfigure.settings import Settings
from gitlab_ha.topology.features import Features

# service → the groups it belongs to (19.3; `gitaly_role` only from 17.6, see _groups).
SERVICE_GROUPS: dict[str, frozenset[str]] = {
    "logrotate": frozenset({"default", "system"}),
    "node_exporter": frozenset({"default", "system", "monitoring", "monitoring_role"}),
    "puma": frozenset({"default", "rails"}),
    "sidekiq": frozenset({"default", "rails", "sidekiq", "sidekiq_role"}),
    "gitlab_exporter": frozenset({"default", "rails", "monitoring"}),
    "gitlab_workhorse": frozenset({"default", "rails"}),
    "gitaly": frozenset({"default", "rails", "gitaly_role"}),
    "redis": frozenset({"default", "redis", "redis_node"}),
    "redis_exporter": frozenset({"default", "redis", "redis_node", "monitoring"}),
    "postgresql": frozenset({"default", "postgres", "postgres_role", "patroni_role"}),
    "nginx": frozenset({"default", "pages_role"}),
    "prometheus": frozenset({"default", "monitoring", "monitoring_role"}),
    "alertmanager": frozenset({"default", "monitoring", "monitoring_role"}),
    "postgres_exporter": frozenset({"default", "monitoring", "postgres", "postgres_role", "patroni_role"}),
    "gitlab_pages": frozenset({"pages_role"}),
    "gitlab_kas": frozenset({"default", "rails"}),
    "sentinel": frozenset({"redis"}),
    "pgbouncer": frozenset({"postgres", "pgbouncer_role"}),
    "pgbouncer_exporter": frozenset({"pgbouncer_role", "monitoring"}),
    "patroni": frozenset({"postgres", "patroni_role"}),
    "consul": frozenset({"consul_role", "ha", "pgbouncer_role", "patroni_role"}),
    "praefect": frozenset(),
    "mailroom": frozenset(),
    "registry": frozenset(),
    "spamcheck": frozenset({"spamcheck_role"}),
}

# role → what it enables: a group name, or ("service", name) for a single service.
ROLE_GROUPS: dict[str, tuple[str, ...]] = {
    "application_role": ("rails",),
    "sidekiq_role": ("sidekiq_role",),
    "redis_master_role": ("redis_node",),
    "redis_replica_role": ("redis_node",),
    "redis_sentinel_role": (),  # Services.enable('sentinel'): the one service, not the redis group
    "consul_role": ("consul_role",),
    "patroni_role": ("patroni_role",),
    "postgres_role": ("postgres_role",),
    "pgbouncer_role": ("pgbouncer_role",),
    "monitoring_role": ("monitoring_role",),
    "gitaly_role": ("gitaly_role",),
    "pages_role": ("pages_role",),
    "spamcheck_role": ("spamcheck_role",),
}
# Roles registered with manage_services: false: they never suppress the default services.
PASSIVE_ROLES = frozenset({"geo_primary_role", "geo_secondary_role", "backup_role"})

# The gitlab.rb key whose `['enable']` switches a service (Omnibus' attribute roots).
ENABLE_KEY: dict[str, str] = {name: name for name in SERVICE_GROUPS}

# How `explain` names services.
TITLES: dict[str, str] = {
    "logrotate": "logrotate",
    "node_exporter": "node exporter",
    "puma": "Puma",
    "sidekiq": "Sidekiq",
    "gitlab_exporter": "GitLab exporter",
    "gitlab_workhorse": "Workhorse",
    "gitaly": "Gitaly",
    "redis": "Redis",
    "redis_exporter": "Redis exporter",
    "postgresql": "PostgreSQL",
    "nginx": "NGINX",
    "prometheus": "Prometheus",
    "alertmanager": "Alertmanager",
    "postgres_exporter": "PostgreSQL exporter",
    "gitlab_pages": "GitLab Pages",
    "gitlab_kas": "KAS",
    "sentinel": "Sentinel",
    "pgbouncer": "PgBouncer",
    "pgbouncer_exporter": "PgBouncer exporter",
    "patroni": "Patroni",
    "consul": "Consul",
    "praefect": "Praefect",
    "mailroom": "Mailroom",
    "registry": "Registry",
    "spamcheck": "Spamcheck",
}

# 17.5+ processes roles in this order; each of these sets gitlab_rails['enable'] only while unset,
# so the first one that touches it decides (`= true if nil` / `||= false`).
_RAILS_ENABLE_ORDER: tuple[tuple[str, bool], ...] = (
    ("application_role", True),
    ("postgres_role", True),
    ("patroni_role", True),
    ("redis_sentinel_role", False),
    ("redis_master_role", False),
    ("redis_replica_role", False),
    ("monitoring_role", False),
    ("pgbouncer_role", False),
    ("consul_role", False),
    ("pages_role", False),
    ("spamcheck_role", False),
    ("gitaly_role", False),
)


def _groups(service: str, features: Features) -> frozenset[str]:
    groups = SERVICE_GROUPS[service]
    if service == "gitaly" and not features.gitaly_role:
        return groups - {"gitaly_role"}
    return groups


@dataclass
class ServicePlan:
    """What reconfigure enables on a node, each service with the reason, and what Rails does there."""

    enabled: dict[str, str] = field(default_factory=dict)  # service → why it runs
    disabled: dict[str, str] = field(default_factory=dict)  # service → why not (only where it matters)
    rails: bool = False  # whether the gitlab-rails recipe (gitlab.yml, database.yml …) runs
    rails_why: str = ""
    migrates: bool = False  # whether `gitlab-rake gitlab:db:configure` runs (unless already migrated)
    migrates_why: str = ""
    unknown_roles: tuple[str, ...] = ()

    def runs(self, service: str) -> bool:
        return service in self.enabled


def plan(settings: Settings, features: Features) -> ServicePlan:
    """The services Omnibus enables for `settings` at `features.version`."""
    out = ServicePlan()
    known = set(ROLE_GROUPS) | PASSIVE_ROLES
    if not features.gitaly_role:
        known.discard("gitaly_role")
    if not features.spamcheck_bundled:
        known.discard("spamcheck_role")
    roles = [r for r in settings.roles if r in known]
    out.unknown_roles = tuple(r for r in settings.roles if r not in known)
    managing = [r for r in roles if r in ROLE_GROUPS]

    for service in ("logrotate", "node_exporter"):
        out.enabled[service] = "every node (system group)"
    if not managing:
        rails_off = settings.flag("gitlab_rails", "enable") is False
        for service in SERVICE_GROUPS:
            if "default" in _groups(service, features) and service not in out.enabled:
                if rails_off and "rails" in _groups(service, features):
                    continue
                out.enabled[service] = "default services (no role set)"
    else:
        for role in managing:
            groups = ROLE_GROUPS[role]
            for service in SERVICE_GROUPS:
                if service not in out.enabled and _groups(service, features) & set(groups):
                    out.enabled[service] = f"{role} ({', '.join(groups)} group)"
            if role == "redis_sentinel_role" and "sentinel" not in out.enabled:
                out.enabled["sentinel"] = "redis_sentinel_role"
        if "application_role" in managing:
            if features.application_role_enables_nginx:
                out.enabled.setdefault("nginx", "application_role (from 17.4.0)")
            else:
                out.disabled["nginx"] = (
                    f"application_role enables NGINX only from 17.4.0 (target {features.version}): "
                    "set nginx['enable'] = true"
                )

    # Explicit x['enable'] wins.
    for service, key in ENABLE_KEY.items():
        flag = settings.flag(key, "enable")
        if flag is True:
            out.enabled[service] = f"{key}['enable'] = true"
            out.disabled.pop(service, None)
        elif flag is False and service in out.enabled:
            del out.enabled[service]
            out.disabled[service] = f"{key}['enable'] = false"
    # Exporters follow their service unless set (Prometheus.parse_exporter_enabled).
    for exporter, service in (("postgres_exporter", "postgresql"), ("redis_exporter", "redis")):
        if settings.flag(exporter, "enable") is None:
            if service in out.enabled:
                out.enabled.setdefault(exporter, f"follows {TITLES[service]}")
            else:
                out.enabled.pop(exporter, None)

    if settings.flag("prometheus_monitoring", "enable") is False:
        for service in list(out.enabled):
            if "monitoring" in _groups(service, features) or service in ("node_exporter",):
                del out.enabled[service]
                out.disabled[service] = "prometheus_monitoring['enable'] = false"

    if out.runs("patroni") and out.runs("postgresql"):
        out.enabled["postgresql"] += "; Patroni starts and supervises it (its runit service is down)"
    _rails(settings, features, roles, out)
    return out


def _rails(settings: Settings, features: Features, roles: list[str], out: ServicePlan) -> None:
    """gitlab_rails['enable'] and whether migrations run here (gitlab/recipes/default.rb)."""
    explicit = settings.flag("gitlab_rails", "enable")
    if explicit is not None:
        out.rails, out.rails_why = explicit, f"gitlab_rails['enable'] = {str(explicit).lower()}"
    elif not features.data_roles_disable_rails:
        # Before 17.5 application_role sets it true if unset; pages and spamcheck set it false; no
        # other role touches it and the attribute default is true.
        setter = next((r for r in roles if r in ("application_role", "pages_role", "spamcheck_role")), None)
        out.rails = setter in (None, "application_role")
        if setter == "application_role":
            out.rails_why = "application_role sets it true"
        elif setter is not None:
            out.rails_why = f"{setter} sets it false"
        else:
            out.rails_why = "attribute default true (no role changes it before 17.5)"
    else:
        order = list(_RAILS_ENABLE_ORDER)
        if features.sidekiq_role_sets_rails:
            order.insert(1, ("sidekiq_role", True))
        decided = next(((role, value) for role, value in order if role in roles), None)
        if decided is None:
            out.rails, out.rails_why = True, "attribute default true"
        else:
            out.rails = decided[1]
            out.rails_why = f"{decided[0]} sets it {'true' if decided[1] else 'false'}"
    if not out.rails:
        out.migrates, out.migrates_why = False, "Rails is not configured here"
        return
    if out.runs("pgbouncer"):
        out.migrates, out.migrates_why = False, "PgBouncer runs here (the migration recipe is skipped)"
        return
    auto = settings.flag("gitlab_rails", "auto_migrate")
    if auto is None:
        defaults_off = {"sidekiq_role", "geo_secondary_role"}
        if not features.data_roles_disable_rails:
            defaults_off.add("monitoring_role")
        setter = next((r for r in roles if r in defaults_off), None)
        auto = setter is None
        out.migrates_why = f"{setter} sets auto_migrate false" if setter else "auto_migrate defaults to true"
    else:
        out.migrates_why = f"gitlab_rails['auto_migrate'] = {str(auto).lower()}"
    out.migrates = auto
