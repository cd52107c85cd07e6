"""What differs between Omnibus releases, in one place: read by render, lint, the reconfigure
model, the lab and the drills. Each fact names the release it starts at and where it was read
(omnibus-gitlab at the release tags; docs/reconfigure.md lists the sources)."""

from __future__ import annotations

from dataclasses import dataclass

from gitlab_ha.topology.versions import Version

# First release of each role that did not exist at 16.0 (roles/*.rb at the tags).
GITALY_ROLE_SINCE = Version(17, 6, 0)  # "Add Gitaly role"; 17.0-17.5 refuse it as an invalid role
BACKUP_ROLE_SINCE = Version(17, 0, 0)  # absent at 16.6, present at 19.3; exact release not in our data
SPAMCHECK_ROLE_GONE = Version(19, 0, 0)  # Spamcheck is no longer bundled from 19.0
# Keys deprecated at these releases and gone at the next major (lint/knowledge.py CHANGES); render and the
# reconfigure model switch to the new key as soon as the old one is deprecated.
SIDEKIQ_CONCURRENCY_SINCE = Version(16, 9, 0)  # sidekiq['concurrency'] for max_/min_concurrency (gone 17.0)
REPOSITORIES_STORAGES_SINCE = Version(17, 8, 0)  # repositories_storages for git_data_dirs (gone 18.0)
# Consul TLS in gitlab.rb (consul/attributes/default.rb, consul/libraries/consul_helper.rb at the tags).
CONSUL_TLS_SINCE = Version(14, 8, 0)  # consul['use_tls'], tls_*_file, tls_verify_client, http(s)_port
CONSUL_TLS_BLOCK_SINCE = Version(15, 6, 0)  # config.json `tls.defaults`, and ports.https on clients too
# NGINX's Rails-facing and per-service settings move under gitlab_rails['nginx'] and each service's own
# key (lint/knowledge.py says where this was read); the old keys still work, with a warning.
NGINX_MOVED_IN = Version(19, 2, 0)


@dataclass(frozen=True)
class Features:
    version: Version

    @property
    def sidekiq_concurrency_key(self) -> str:
        """`sidekiq['concurrency']` replaces `max_concurrency`/`min_concurrency` from 16.9 (deprecated there, gone
        in 17.0), so we switch as soon as the old key is deprecated, like `repositories_storages`."""
        return "max_concurrency" if self.version < SIDEKIQ_CONCURRENCY_SINCE else "concurrency"

    @property
    def repositories_storages(self) -> bool:
        """`git_data_dirs` is deprecated from 17.8 and gone in 18.0; `gitlab_rails['repositories_storages']`
        (with `gitaly['configuration']` storages) replaces it, so we switch as soon as it is deprecated."""
        return self.version >= REPOSITORIES_STORAGES_SINCE

    @property
    def gitaly_role(self) -> bool:
        """`gitaly_role` ships from 17.6.0 ("Add Gitaly role"); 17.0-17.5 reject it as an invalid role."""
        return self.version >= GITALY_ROLE_SINCE

    @property
    def application_role_enables_nginx(self) -> bool:
        """From 17.4.0 `application_role` sets `nginx['enable'] = true` unless the user set it; before,
        the `rails` group (Puma, Sidekiq, Workhorse, Gitaly, KAS) never includes NGINX."""
        return self.version >= (17, 4, 0)

    @property
    def rails_nginx_keys(self) -> bool:
        """From 19.2.0 NGINX's Rails-facing keys (`listen_port`, `listen_https`, `real_ip_trusted_addresses`, …)
        live under `gitlab_rails['nginx']`; the old `nginx[...]` forms warn on every reconfigure."""
        return self.version >= NGINX_MOVED_IN

    @property
    def sidekiq_role_sets_rails(self) -> bool:
        """From 18.7.0 `sidekiq_role` also sets `gitlab_rails['enable']` while unset (true), right after
        `application_role` in the order roles are processed."""
        return self.version >= (18, 7, 0)

    @property
    def slow_statements_logged(self) -> bool:
        """From 17.1.0 postgresql.conf logs statements slower than 1 s (`log_min_duration_statement` 1000);
        before, Omnibus' default was -1 (off)."""
        return self.version >= (17, 1, 0)

    @property
    def max_slot_wal_keep_size(self) -> bool:
        """From 18.4.0 Omnibus writes `max_slot_wal_keep_size` (`postgresql['max_slot_wal_keep_size']`,
        default -1: unlimited) into postgresql.conf."""
        return self.version >= (18, 4, 0)

    @property
    def connection_logging_off(self) -> bool:
        """From 17.4.0 postgresql.conf says `log_connections = off` and `log_disconnections = off`
        explicitly; before, neither line is written."""
        return self.version >= (17, 4, 0)

    @property
    def patroni_superuser_password(self) -> bool:
        """From 19.1.0 patroni.yaml gives the superuser (gitlab-psql) `postgresql['sql_superuser_password']`
        when it is set; before, the superuser has no password there, and pg_rewind logs in without one."""
        return self.version >= (19, 1, 0)

    @property
    def spamcheck_bundled(self) -> bool:
        """`spamcheck_role` and Spamcheck itself are bundled before 19.0 only."""
        return self.version < SPAMCHECK_ROLE_GONE

    @property
    def prometheus_user_job_replaces_default(self) -> bool:
        """From 18.9.0 a `prometheus['scrape_configs']` job named `node`, `postgres`, `pgbouncer` or `redis`
        replaces the job Omnibus would generate under that name (monitoring/libraries/prometheus.rb, "Add a
        warning message if pre-existing config is present"); 18.9.0 also starts generating a `pgbouncer`
        job, pointed at a Consul service nothing registers. Before, both jobs are kept and Prometheus
        refuses two jobs of one name."""
        return self.version >= (18, 9, 0)

    @property
    def incremental_logging_setting(self) -> bool:
        """Incremental logging (job logs through Redis to object storage, GitLab's answer to "no NFS") is the
        instance setting `ci_job_live_trace_enabled` (Admin area, Settings API) from 17.11.0, which replaced
        the `ci_enable_live_trace` feature flag (removed in 18.0): GitLab's docs, "Configure incremental
        logging" history, and the 17.11 migration BackfillCiJobLiveTraceApplicationSetting."""
        return self.version >= (17, 11, 0)

    @property
    def data_roles_disable_rails(self) -> bool:
        """From 17.5.0 the consul, pgbouncer, redis, sentinel and monitoring roles set
        `gitlab_rails['enable'] ||= false`, while patroni_role and postgres_role set it true if unset;
        before, `gitlab_rails['enable']` defaulted to true on every node with no role touching it."""
        return self.version >= (17, 5, 0)

    @property
    def postgresql_major(self) -> int:
        """The PostgreSQL Omnibus links by default (config/software/postgresql.rb)."""
        if self.version >= (19, 0, 0):
            return 17
        if self.version >= (18, 0, 0):
            return 16
        if self.version >= (17, 0, 0):
            return 14
        return 13

    @property
    def patroni_yaml_quotes_addresses(self) -> bool:
        """From 18.6.0 patroni.yaml quotes `listen`/`connect_address` and allowlist entries."""
        return self.version >= (18, 6, 0)

    @property
    def consul_tls(self) -> bool:
        """`consul['use_tls']`, `tls_ca_file`, `tls_certificate_file`, `tls_key_file`, `tls_verify_client`,
        `http_port` and `https_port` exist from 14.8.0 (consul/attributes/default.rb; absent at 14.7.0)."""
        return self.version >= CONSUL_TLS_SINCE

    @property
    def consul_tls_block(self) -> bool:
        """From 15.6.0 `ConsulHelper#tls_configuration` writes config.json's `tls { defaults { … } }` and
        `ports.https` on clients too; 14.8-15.5 wrote top-level `ca_file`/`cert_file`/`key_file`/`verify_*`
        and `ports.https` on servers only (consul/libraries/consul_helper.rb at the tags)."""
        return self.version >= CONSUL_TLS_BLOCK_SINCE
