"""What lint knows about Omnibus without a `--template`: role names per release and the key
changes stated in PRODUCT.md §4 and ../shared/reference/omnibus/README.md.

Unknown-key warnings need a `gitlab.rb.template` (`--template`); this module never guesses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitlab_ha.topology.features import (
    BACKUP_ROLE_SINCE,
    GITALY_ROLE_SINCE,
    NGINX_MOVED_IN,
    REPOSITORIES_STORAGES_SINCE,
    SIDEKIQ_CONCURRENCY_SINCE,
    SPAMCHECK_ROLE_GONE,
)
from gitlab_ha.topology.roles import Role
from gitlab_ha.topology.versions import Version

# Omnibus role name → the topology roles it stands for (consul_role is a Consul *server* only with
# `consul['configuration']['server'] = true`; postgres_role is told apart by the inventory).
OMNIBUS_ROLES: dict[str, tuple[Role, ...]] = {
    "application_role": (Role.RAILS,),
    "sidekiq_role": (Role.SIDEKIQ,),
    "consul_role": (),
    "redis_master_role": (Role.REDIS,),
    "redis_replica_role": (Role.REDIS,),
    "redis_sentinel_role": (Role.SENTINEL,),
    "patroni_role": (Role.PATRONI,),
    "pgbouncer_role": (Role.PGBOUNCER,),
    "postgres_role": (Role.POSTGRES,),
    "gitaly_role": (Role.GITALY,),
    "monitoring_role": (Role.MONITORING,),
    "geo_primary_role": (),
    "geo_secondary_role": (),
    "pages_role": (),
    "spamcheck_role": (),
    "backup_role": (),
}

# Roles every supported release (16.0 and later) accepts.
_BASE_ROLES = frozenset(
    {
        "application_role",
        "consul_role",
        "geo_primary_role",
        "geo_secondary_role",
        "monitoring_role",
        "pages_role",
        "patroni_role",
        "pgbouncer_role",
        "postgres_role",
        "redis_master_role",
        "redis_replica_role",
        "redis_sentinel_role",
        "sidekiq_role",
        "spamcheck_role",
    }
)
# Roles added later: name → first release. gitaly_role first ships in 17.6.0 (17.0-17.5 refuse it,
# as the renderer knows too); backup_role is absent from 16.6 and present in 19.3, its exact first
# release is not in our reference data, so it is accepted from 17.0 on rather than reported wrongly.
_ADDED_ROLES: dict[str, Version] = {"gitaly_role": GITALY_ROLE_SINCE, "backup_role": BACKUP_ROLE_SINCE}


# Roles dropped later: name → first release without it. Spamcheck's keys are in the 18.0 key list
# and gone from 19.3's; 19.0 is the first release it could have left.
_REMOVED_ROLES: dict[str, Version] = {"spamcheck_role": SPAMCHECK_ROLE_GONE}


def known_roles(version: Version | None) -> frozenset[str]:
    """Role names `roles [...]` accepts at `version` (every role we know of when no version)."""
    if version is None:
        return _BASE_ROLES | frozenset(_ADDED_ROLES)
    added = frozenset(name for name, since in _ADDED_ROLES.items() if version >= since)
    removed = frozenset(name for name, gone in _REMOVED_ROLES.items() if version >= gone)
    return (_BASE_ROLES | added) - removed


def role_since(name: str) -> str | None:
    since = _ADDED_ROLES.get(name)
    return str(since) if since else None


@dataclass(frozen=True)
class Change:
    """A key (or a top-level method such as `git_data_dirs`) that Omnibus deprecates, then removes;
    `removed_in` None when no release removes it (it keeps working, with a warning)."""

    key: str
    deprecated_in: Version
    removed_in: Version | None
    replacement: str

    def removed_at(self, version: Version) -> bool:
        return self.removed_in is not None and version >= self.removed_in

    def deprecated_at(self, version: Version) -> bool:
        return version >= self.deprecated_in and not self.removed_at(version)

    def covers(self, key: str) -> bool:
        return key == self.key or key.startswith(self.key + "[")


# 19.2.0 (NGINX_MOVED_IN, in topology/features.py) moved NGINX's settings for the Rails application under
# `gitlab_rails['nginx']` and each service's under its own key ("Move rails nginx settings to gitlab_rails
# subkey", "Move per-service nginx settings into service subkeys"): the old keys are still copied over,
# with a deprecation warning at every reconfigure, and no release removes them. Not in ../shared/reference/omnibus/
# deprecations.tsv; read in omnibus-gitlab at 19.2/19.3 (NginxHelper#client_default_values,
# GitlabRails.translate_rails_nginx_settings, Nginx.translate_service_nginx_settings), and the 19.3
# gitlab.rb.template says so ("moved from `nginx[...]` to `gitlab_rails['nginx'][...]` in GitLab 19.2").
RAILS_NGINX_KEYS: tuple[str, ...] = (
    "client_max_body_size",
    "custom_error_pages",
    "custom_gitlab_server_config",
    "default_server_enabled",
    "error_log_level",
    "hsts_include_subdomains",
    "hsts_max_age",
    "http2_enabled",
    "listen_addresses",
    "listen_https",
    "listen_port",
    "proxy_connect_timeout",
    "proxy_custom_buffer_size",
    "proxy_protocol",
    "proxy_read_timeout",
    "proxy_set_headers",
    "real_ip_header",
    "real_ip_recursive",
    "real_ip_trusted_addresses",
    "redirect_http_to_https",
    "redirect_http_to_https_port",
    "referrer_policy",
    "request_buffering_off_path_regex",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_ciphers",
    "ssl_client_certificate",
    "ssl_conf_command",
    "ssl_dhparam",
    "ssl_ecdh_curve",
    "ssl_password_file",
    "ssl_prefer_server_ciphers",
    "ssl_protocols",
    "ssl_session_cache",
    "ssl_session_tickets",
    "ssl_session_timeout",
    "ssl_verify_client",
    "ssl_verify_depth",
)
NGINX_CHANGES: tuple[Change, ...] = (
    *(Change(f"nginx['{key}']", NGINX_MOVED_IN, None, f"gitlab_rails['nginx']['{key}']") for key in RAILS_NGINX_KEYS),
    Change("pages_nginx", NGINX_MOVED_IN, None, "gitlab_pages['nginx']"),
    Change("registry_nginx", NGINX_MOVED_IN, None, "registry['nginx']"),
    Change("gitlab_kas_nginx", NGINX_MOVED_IN, None, "gitlab_kas['nginx']"),
)

CHANGES: tuple[Change, ...] = (
    Change("sidekiq['max_concurrency']", SIDEKIQ_CONCURRENCY_SINCE, Version(17, 0, 0), "sidekiq['concurrency']"),
    Change("sidekiq['min_concurrency']", SIDEKIQ_CONCURRENCY_SINCE, Version(17, 0, 0), "sidekiq['concurrency']"),
    Change("sidekiq['negate']", Version(15, 9, 0), Version(17, 0, 0), "sidekiq['routing_rules']"),
    Change("gitaly['cgroups_count']", Version(15, 1, 0), Version(16, 0, 0), "gitaly['configuration'][:cgroups]"),
    Change("gitaly['cgroups_cpu_enabled']", Version(15, 1, 0), Version(16, 0, 0), "gitaly['configuration'][:cgroups]"),
    Change(
        "gitaly['cgroups_memory_enabled']", Version(15, 1, 0), Version(16, 0, 0), "gitaly['configuration'][:cgroups]"
    ),
    Change("gitaly['cgroups_memory_limit']", Version(15, 1, 0), Version(16, 0, 0), "gitaly['configuration'][:cgroups]"),
    Change("praefect['separate_database_metrics']", Version(15, 5, 0), Version(16, 0, 0), "nothing (always separate)"),
    Change("sidekiq['queue_selector']", Version(15, 9, 0), Version(17, 0, 0), "sidekiq['routing_rules']"),
    Change(
        "git_data_dirs",
        REPOSITORIES_STORAGES_SINCE,
        Version(18, 0, 0),
        "gitlab_rails['repositories_storages'] plus gitaly['configuration'] storages",
    ),
    Change("omnibus_gitconfig", Version(16, 10, 0), Version(17, 0, 0), "gitaly['configuration'] git config"),
    Change("postgres_exporter['per_table_stats']", Version(16, 4, 0), Version(17, 0, 0), "nothing (always on)"),
    Change("gitlab_shell['migration']", Version(17, 4, 0), Version(18, 0, 0), "nothing (the setting is gone)"),
    Change("mattermost_external_url", Version(19, 0, 0), Version(20, 0, 0), "a separately installed Mattermost"),
    Change("spamcheck", SPAMCHECK_ROLE_GONE, SPAMCHECK_ROLE_GONE, "nothing (Spamcheck is no longer bundled)"),
    *NGINX_CHANGES,
)


_BY_KEY: dict[str, Change] = {change.key: change for change in CHANGES}


def change_for(key: str) -> Change | None:
    """The change that covers `key`: one for the key itself or for a prefix of it (its setting group,
    or a prefix that ends at `]`). A lookup per prefix: lint asks for every assignment of every node."""
    base, bracket, _ = key.partition("[")
    candidates = [base] + [key[: i + 1] for i, char in enumerate(key) if char == "]"] if bracket else [key]
    for candidate in candidates:
        change = _BY_KEY.get(candidate)
        if change is not None and change.covers(key):
            return change
    return None


# Keys that Omnibus accepts (they are attribute defaults of its cookbooks) but that its
# gitlab.rb.template has no example line for; the renderer writes them, so a template alone would
# call them unknown. Each one is in the reference key lists of 16.6.0 and 19.3.0. (NGINX's Rails keys,
# absent from 19.3's template, need no entry: NGINX_CHANGES knows them, and a known change is never
# called unknown.)
ATTRIBUTE_KEYS: frozenset[str] = frozenset(
    {
        "gitlab_rails['enable']",
        "gitlab_rails['internal_api_url']",
    }
)

# patroni.yaml.erb writes one line per key of `patroni['consul']` (`@consul.each`, the same at every tag
# from 16.0 to 19.3), so Patroni's own Consul settings pass through although neither the template nor the
# attribute defaults name them: the TLS ones (patroni/dcs/consul.py reads cacert, cert, key, verify), the
# token and the rest of its consul section.
PATRONI_CONSUL_KEYS: frozenset[str] = frozenset(
    f"patroni['consul']['{name}']"
    for name in (
        "cacert",
        "cert",
        "key",
        "verify",
        "token",
        "dc",
        "consistency",
        "service_tags",
        "service_check_tls_server_name",
    )
)
