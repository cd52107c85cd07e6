"""RUNBOOK.md: the seed's ordered steps, filled in with this cluster's names and addresses.

Each step says where to run it, what to run, the check to run after it and what healthy output
looks like. No secret value ever appears here: steps that need one use a rendered 0600 file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from shlex import quote

from gitlab_ha.render import consul_tls
from gitlab_ha.render.context import PRAEFECT_DB, PRAEFECT_DB_USER, Context
from gitlab_ha.render.database import runs_pgbouncer
from gitlab_ha.render.redis import master_name
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role

PRAEFECT_CONFIG = "/var/opt/gitlab/praefect/config.toml"
PRAEFECT = f"sudo -u git /opt/gitlab/embedded/bin/praefect -config {PRAEFECT_CONFIG}"  # then a subcommand
GITALY_CONFIG = "/var/opt/gitlab/gitaly/config.toml"
RESTART_PRAEFECT = "sudo gitlab-ctl restart praefect   # after the first reconfigure"


@dataclass
class Step:
    title: str
    nodes: list[Node]
    why: str
    commands: list[str]
    check: list[str] = field(default_factory=list)
    healthy: list[str] = field(default_factory=list)


def _names(nodes: list[Node]) -> str:
    return ", ".join(f"`{n.name}` ({n.ip})" for n in nodes) or "(none)"


def _install(node: Node | None = None) -> str:
    source = quote(f"{node.name}/gitlab.rb") if node is not None else "<node>/gitlab.rb"
    return f"sudo install -m 0600 -o root -g root {source} /etc/gitlab/gitlab.rb"


def steps(ctx: Context) -> list[Step]:
    topo = ctx.topo
    omnibus = [n for n in topo.nodes if n.omnibus]
    first = omnibus[0] if omnibus else None
    out: list[Step] = []
    pkg = f"gitlab-{topo.gitlab.edition}"
    out.append(
        Step(
            "Install the GitLab package",
            omnibus,
            "Every node but the load balancers runs the same Omnibus release.",
            [
                f"curl -fsSL {quote(f'https://packages.gitlab.com/install/repositories/gitlab/{pkg}/script.deb.sh')} | sudo bash",
                f"sudo apt-get install -y {quote(f'{pkg}={topo.gitlab.version}-{topo.gitlab.edition}.0')}"
                f"   # or dnf install {quote(f'{pkg}-{topo.gitlab.version}')}",
            ],
            ["sudo gitlab-ctl status || true"],
            ["the package is installed; no service runs yet (no reconfigure has happened)"],
        )
    )
    if first is not None and len(omnibus) > 1:
        out.append(
            Step(
                "Share gitlab-secrets.json",
                omnibus,
                "Every node must hold the same /etc/gitlab/gitlab-secrets.json before its first reconfigure.",
                [
                    f"# on {first.name}: the first reconfigure writes /etc/gitlab/gitlab-secrets.json",
                    _install(first),
                    "sudo gitlab-ctl reconfigure",
                    "# copy it to every other node, keeping mode 0600:",
                    "sudo install -m 0600 -o root -g root gitlab-secrets.json /etc/gitlab/gitlab-secrets.json",
                ],
                ["sudo sha256sum /etc/gitlab/gitlab-secrets.json"],
                ["the same sum on every node"],
            )
        )
    if consul_tls.enabled(ctx):
        out.append(_consul_tls(ctx))
    consul = ctx.nodes(Role.CONSUL)
    if consul:
        out.append(
            Step(
                "Consul servers",
                consul,
                "Everything else finds the database leader through Consul: it comes first.",
                [_install(), "sudo gitlab-ctl reconfigure"],
                ["sudo /opt/gitlab/embedded/bin/consul members"],
                [f"{len(consul)} lines of Type `server`, Status `alive`, DC `{topo.consul.datacenter}`"],
            )
        )
    redis_nodes = ctx.nodes(Role.REDIS, Role.REDIS_CACHE, Role.SENTINEL, Role.SENTINEL_CACHE)
    if redis_nodes:
        master = topo.redis_master()
        check = [
            f"sudo /opt/gitlab/embedded/bin/redis-cli -h {quote(master.ip) if master else '<master>'} --askpass info replication"
            "   # password: redis_password from the secrets store"
        ]
        healthy = [f"role:master, connected_slaves:{max(len(ctx.nodes(Role.REDIS)) - 1, 0)}"]
        if ctx.topo.has_role(Role.SENTINEL):
            sentinel = ctx.nodes(Role.SENTINEL)[0]
            check.append(
                f"/opt/gitlab/embedded/bin/redis-cli -h {quote(sentinel.ip)} -p {PORTS['sentinel']} "
                f"sentinel get-master-addr-by-name {quote(master_name(ctx, cache=False))}"
            )
            healthy.append(f"{master.ip if master else '<master>'} and {PORTS['redis']}")
        out.append(
            Step(
                "Redis and Sentinel (initial master first)",
                redis_nodes,
                "Rails keeps sessions and jobs here; Sentinel promotes a replica when the master fails.",
                ["sudo gitlab-ctl reconfigure"],
                check,
                healthy,
            )
        )
    patroni = ctx.nodes(Role.PATRONI)
    if patroni:
        out.append(
            Step(
                "PostgreSQL with Patroni",
                patroni,
                "Patroni elects a leader through Consul; replicas stream from it.",
                ["sudo gitlab-ctl reconfigure"],
                ["sudo gitlab-ctl patroni members"],
                [
                    f"{len(patroni)} members, exactly one `Leader`, the others `Replica` in state `running` "
                    "(Patroni 2, GitLab 16) or `streaming` (Patroni 3+), lag 0"
                ],
            )
        )
        if topo.database.synchronous_mode:
            out.append(
                Step(
                    "Synchronous replication",
                    patroni[:1],
                    "Omnibus does not expose Patroni's synchronous_mode; set it once in the DCS.",
                    [
                        "sudo /opt/gitlab/embedded/bin/patronictl -c /var/opt/gitlab/patroni/patroni.yaml "
                        "edit-config --force -s synchronous_mode=true"
                    ],
                    ["sudo gitlab-ctl patroni members"],
                    ["one member is `Sync Standby`"],
                )
            )
    pgbouncers = ctx.nodes(Role.PGBOUNCER)
    if pgbouncers:
        out.append(
            Step(
                "PgBouncer and its Consul watch",
                pgbouncers,
                "The watch rewrites PgBouncer's target to the leader; it logs in with this .pgpass "
                "(what `gitlab-ctl write-pgpass --host 127.0.0.1 --database pgbouncer --user pgbouncer "
                "--hostuser gitlab-consul` would write, without typing the password). The first reconfigure "
                "runs before the .pgpass exists, so reconfigure once more (as GitLab's docs do) and restart "
                "Consul, whose watch then runs its handler again and can reload PgBouncer.",
                [
                    "sudo gitlab-ctl reconfigure",
                    "sudo install -m 0600 -o gitlab-consul -g gitlab-consul <node>/pgpass /var/opt/gitlab/consul/.pgpass",
                    "sudo gitlab-ctl reconfigure   # once more, now that the .pgpass is there",
                    "sudo gitlab-ctl restart consul",
                ],
                [
                    f"sudo -u gitlab-consul /opt/gitlab/embedded/bin/psql -h 127.0.0.1 -p {PORTS['pgbouncer']} "
                    "-U pgbouncer -d pgbouncer -c 'SHOW DATABASES'"
                ],
                [f"`{topo.database.name}` with host = the Patroni leader's address (see `gitlab-ctl patroni members`)"],
            )
        )
    praefect_db = ctx.one(Role.PRAEFECT_POSTGRES)
    if praefect_db is not None:
        out.append(
            Step(
                "Praefect's PostgreSQL, its role and its database",
                [praefect_db],
                "Praefect keeps its metadata here. praefect-db.sql holds only the md5 hash of the password.",
                [
                    "sudo gitlab-ctl reconfigure",
                    "# gitlab-psql runs as user gitlab-psql: feed it the file on stdin, read by your shell",
                    f"sudo gitlab-psql -d template1 < {quote(f'{praefect_db.name}/praefect-db.sql')}",
                ],
                ["sudo gitlab-psql -d template1 -c '\\l'"],
                [f"`{PRAEFECT_DB}` owned by `{PRAEFECT_DB_USER}`"],
            )
        )
    praefects = ctx.nodes(Role.PRAEFECT)
    if praefects:
        out.append(
            Step(
                "Praefect, first node (runs Praefect's migrations)",
                praefects[:1],
                "Only this node has praefect['auto_migrate'] = true; skip-auto-reconfigure keeps "
                "package upgrades from migrating behind your back. Restart Praefect after its first "
                "reconfigure so that it runs with the configuration just written.",
                ["sudo touch /etc/gitlab/skip-auto-reconfigure", "sudo gitlab-ctl reconfigure", RESTART_PRAEFECT],
                [f"{PRAEFECT} sql-ping"],
                ["`praefect sql-ping: OK`"],
            )
        )
        if len(praefects) > 1:
            out.append(
                Step(
                    "Praefect, the other nodes",
                    praefects[1:],
                    "Same configuration without migrations; restart Praefect after its first reconfigure.",
                    ["sudo touch /etc/gitlab/skip-auto-reconfigure", "sudo gitlab-ctl reconfigure", RESTART_PRAEFECT],
                    [f"{PRAEFECT} sql-ping"],
                    ["`praefect sql-ping: OK`"],
                )
            )
    gitalys = ctx.nodes(Role.GITALY)
    if gitalys:
        out.append(
            Step(
                "Gitaly",
                gitalys,
                "Storage nodes; their auth token is Praefect's internal token. Restart Gitaly after its "
                "first reconfigure so that it runs with the configuration just written. Its check against "
                "Rails (`gitaly check`) comes once Rails is up.",
                ["sudo gitlab-ctl reconfigure", "sudo gitlab-ctl restart gitaly"],
                [f"{PRAEFECT} dial-nodes   # on a Praefect node"] if praefects else ["sudo gitlab-ctl status gitaly"],
                [f"`SUCCESS` for each of {len(gitalys)} storages" if praefects else "gitaly: run"],
            )
        )
    lb = ctx.internal_lb
    if lb is not None:
        out.append(
            Step(
                "Internal load balancer (HAProxy)",
                [lb],
                "Rails reaches PgBouncer (6432), Praefect (2305) and the Patroni leader (5432) through it.",
                [
                    "sudo apt-get install -y haproxy",
                    f"sudo install -m 0644 {quote(f'{lb.name}/haproxy.cfg')} /etc/haproxy/haproxy.cfg",
                    "sudo haproxy -c -f /etc/haproxy/haproxy.cfg && sudo systemctl restart haproxy",
                ],
                [f"curl -s 'http://127.0.0.1:{PORTS['haproxy_stats']}/;csv' | cut -d, -f1,2,18"],
                ["pgbouncer, postgresql-leader (one server), praefect backends UP; Rails DOWN until Rails runs"],
            )
        )
    rails = ctx.migrating_rails
    if rails is not None:
        target = (
            f"the internal load balancer's leader frontend ({lb.ip}:{PORTS['postgres']})"
            if lb is not None and patroni
            else "the database directly"
        )
        out.append(
            Step(
                "First Rails node: database migrations against the leader",
                [rails],
                "Migrations never go through PgBouncer's transaction pooling. Every steady-state gitlab.rb "
                "(this node's too) has gitlab_rails['auto_migrate'] = false; only gitlab.rb.first-run has "
                f"auto_migrate = true and points at {target}, so its reconfigure creates and migrates the "
                "database. Then the steady gitlab.rb goes back (through PgBouncer) and its reconfigure does "
                "not migrate. Every upgrade migrates the same way (see Upgrades at the end).",
                [
                    f"sudo install -m 0600 -o root -g root {quote(f'{rails.name}/gitlab.rb.first-run')} /etc/gitlab/gitlab.rb",
                    "sudo touch /etc/gitlab/skip-auto-reconfigure",
                    "sudo gitlab-ctl reconfigure",
                    _install(rails),
                    "sudo gitlab-ctl reconfigure",
                ],
                ["sudo gitlab-rake gitlab:gitaly:check", "sudo gitlab-rake db:migrate:status | grep -c '^ *down'"],
                ["`Gitaly: ... default ... OK`; `0` migrations down"],
            )
        )
    app_nodes = ctx.nodes(Role.RAILS, Role.SIDEKIQ)
    others = [n for n in app_nodes if rails is None or n.name != rails.name]
    if others:
        out.append(
            Step(
                "The other Rails and Sidekiq nodes",
                others,
                "Same settings, no migrations.",
                ["sudo touch /etc/gitlab/skip-auto-reconfigure", "sudo gitlab-ctl reconfigure"],
                ["curl -s http://127.0.0.1/-/readiness   # on the node: loopback is in the monitoring allowlist"],
                ['`{"status":"ok"}` on Rails nodes; `sudo gitlab-ctl status sidekiq` shows `run` on Sidekiq nodes'],
            )
        )
    out += _once_rails_is_up(ctx, gitalys)
    web = ctx.nodes(Role.RAILS)
    if web:
        out.append(
            Step(
                "SSH host keys and sshd",
                web,
                "Every Rails node behind the load balancer must show users the same host keys, and sshd "
                "must ask GitLab for the keys of user git.",
                [
                    f"# copy /etc/ssh/ssh_host_*_key and *.pub from {web[0].name} to the other Rails nodes (mode 0600 / 0644)",
                    "sudo install -m 0644 <node>/sshd_gitlab.conf /etc/ssh/sshd_config.d/60-gitlab.conf",
                    "sudo sshd -t && sudo systemctl restart sshd",
                ],
                ["ssh-keyscan -t ed25519 <node> 2>/dev/null | ssh-keygen -lf -"],
                ["the same fingerprint for every Rails node"],
            )
        )
    ext = ctx.one(Role.EXTERNAL_LB)
    if ext is not None:
        out.append(
            Step(
                "External load balancer (HAProxy, TLS)",
                [ext],
                "Users reach Rails here; TLS ends at this node. HAProxy takes port 22 for git over SSH, "
                "so this host's own sshd moves to 2222 first (reconnect on that port).",
                [
                    "sudo sh -c 'echo Port 2222 > /etc/ssh/sshd_config.d/10-admin-port.conf'",
                    "sudo sshd -t && sudo systemctl restart sshd",
                    "sudo apt-get install -y haproxy",
                    "# put the certificate and key for the external URL in /etc/haproxy/certs/gitlab.pem",
                    f"sudo install -m 0644 {quote(f'{ext.name}/haproxy.cfg')} /etc/haproxy/haproxy.cfg",
                    "sudo haproxy -c -f /etc/haproxy/haproxy.cfg && sudo systemctl restart haproxy",
                ],
                [f"curl -sI {quote(f'{topo.gitlab.external_url}/users/sign_in')} | head -1"],
                ["`HTTP/2 200` (or `HTTP/1.1 200 OK`)"],
            )
        )
    elif web:
        out.append(_cloud_load_balancer(ctx, web))
    mon = ctx.nodes(Role.MONITORING)
    if mon:
        out.append(_monitoring(ctx, mon))
    standalone = ctx.nodes(Role.STANDALONE)
    end_to_end = _end_to_end(ctx, web or standalone)
    if standalone:
        out.append(
            Step(
                "Single node",
                standalone,
                "Everything runs on this node.",
                [_install(standalone[0]), "sudo gitlab-ctl reconfigure"],
                ["sudo gitlab-rake gitlab:check SANITIZE=true"],
                ["every check `yes` or `OK`"],
            )
        )
    if end_to_end is not None:
        out.append(end_to_end)
    return out


def _consul_tls(ctx: Context) -> Step:
    """The Consul TLS files onto every node, before the reconfigure that turns `consul['use_tls']` on."""
    nodes = [n for n in ctx.topo.nodes if n.omnibus]
    patroni = [n.name for n in nodes if consul_tls.patroni_has_cert(ctx, n)]
    commands = [f"sudo install -d -m 0755 -o root -g root {consul_tls.TLS_DIR}"]
    every = [consul_tls.CA, *consul_tls.files(ctx, nodes[0])[1:3]]
    for tls in every + (list(consul_tls.PATRONI) if patroni else []):
        mode = "0600" if tls.secret else "0644"
        line = f"sudo install -m {mode} -o root -g root <node>/{tls.name} {tls.path}"
        if tls in consul_tls.PATRONI:
            line += f"   # only on {', '.join(patroni)}"
        commands.append(line)
    commands += [
        "# after this node's first `gitlab-ctl reconfigure` (its step below), which creates the service users:",
        f"sudo chown gitlab-consul:gitlab-consul {consul_tls.TLS_DIR}/agent-key.pem && sudo gitlab-ctl restart consul",
    ]
    if patroni:
        commands.append(
            f"sudo chown gitlab-psql:gitlab-psql {consul_tls.PATRONI[1].path} && sudo gitlab-ctl restart patroni"
            f"   # on {', '.join(patroni)}"
        )
    mode = ctx.topo.consul.tls
    why = {
        "server": "Agents speak TLS to each other and serve HTTPS on 8501; servers check no client certificate.",
        "mutual": "Agents speak TLS; the Consul servers accept only client agents with a certificate of this CA.",
        "mutual_patroni": "Agents speak TLS; the Consul servers accept only agents with a certificate of this CA, "
        "and each client agent's HTTPS API only clients with one: Patroni presents its own.",
    }[mode]
    why += (
        " Every node's folder holds the CA (ca.pem) and its agent's certificate and key (the Consul servers "
        "share one for server."
        f"{ctx.topo.consul.datacenter}.consul, the client agents another); the keys are 0600. They must be in "
        "place before the reconfigure that turns consul['use_tls'] on. Until that reconfigure has created "
        "gitlab-consul (and gitlab-psql), only root can read the keys, so Consul (and Patroni) start after "
        "the chown below."
    )
    ca = f"{consul_tls.TLS_DIR}/ca.pem"
    cert, key = f"{consul_tls.TLS_DIR}/agent.pem", f"{consul_tls.TLS_DIR}/agent-key.pem"
    return Step(
        f"Consul TLS files ({mode})",
        nodes,
        why,
        commands,
        [
            f"sudo /opt/gitlab/embedded/bin/consul members -http-addr=https://127.0.0.1:{consul_tls.HTTPS_PORT} "
            f"-ca-file={ca} -client-cert={cert} -client-key={key}"
        ],
        ["every node `alive`, once it has been reconfigured"],
    )


def _once_rails_is_up(ctx: Context, gitalys: list[Node]) -> list[Step]:
    """What needs Rails running: Gitaly's own check of its API access, and incremental logging."""
    out: list[Step] = []
    if gitalys and ctx.nodes(Role.RAILS):
        out.append(
            Step(
                "Check each Gitaly against Rails",
                gitalys,
                f"Gitaly calls Rails' internal API ({ctx.internal_url}) for every push; now that Rails runs, "
                "Gitaly's own check can reach it.",
                [f"sudo /opt/gitlab/embedded/bin/gitaly check {GITALY_CONFIG}"],
                [],
                ["`Checking GitLab API access: OK`, the GitLab version and revision, and a last line `OK`"],
            )
        )
    web = ctx.nodes(Role.RAILS)
    if web and len(ctx.nodes(Role.RAILS, Role.SIDEKIQ)) > 1:
        out.append(_incremental_logging(ctx, web[0]))
    return out


def _incremental_logging(ctx: Context, rails: Node) -> Step:
    """Job logs without NFS: the runner's chunks reach any Rails node, so they go through Redis to
    object storage (GitLab's reference architectures require it when NFS is not used)."""
    store = ctx.topo.object_storage
    why = (
        "There is no NFS: a running job's log reaches whichever Rails node the runner talks to and is read "
        "from any other, and Sidekiq archives it from yet another node. Incremental logging keeps the live "
        "log in Redis and archives it to object storage; GitLab's reference architectures require it when "
        "NFS is not used. "
    )
    why += (
        f"It needs object storage for CI artifacts (configured: bucket `{store.buckets.get('artifacts', '?')}`)."
        if store is not None
        else "It needs object storage for CI artifacts, which this topology lacks: add `object_storage` and "
        "render again first."
    )
    if ctx.features.incremental_logging_setting:
        url = ctx.topo.gitlab.external_url.rstrip("/")
        commands = [
            "sudo gitlab-rails runner '::Gitlab::CurrentSettings.update!(ci_job_live_trace_enabled: true)'",
            "# the same from the Admin area (Settings > CI/CD > Job logs > Turn on incremental logging) or,",
            "# with an administrator's token, the Settings API:",
            f"# curl --request PUT --header 'PRIVATE-TOKEN: <admin token>' "
            f"'{url}/api/v4/application/settings?ci_job_live_trace_enabled=true'",
        ]
        check = ["sudo gitlab-rails runner 'puts Gitlab::CurrentSettings.ci_job_live_trace_enabled?'"]
    else:
        commands = ["sudo gitlab-rails runner 'Feature.enable(:ci_enable_live_trace)'"]
        check = ["sudo gitlab-rails runner 'puts Feature.enabled?(:ci_enable_live_trace)'"]
    return Step("Incremental logging (job logs without NFS)", [rails], why, commands, check, ["`true`"])


def _monitoring(ctx: Context, mon: list[Node]) -> Step:
    """Prometheus: what Consul discovery finds, and the static jobs for what it does not."""
    praefects = ctx.nodes(Role.PRAEFECT)
    pgbouncers = [n for n in ctx.topo.nodes if runs_pgbouncer(ctx, n)]
    static = []
    if praefects:
        static.append(f"`praefect` ({len(praefects)} targets, :{PORTS['praefect_metrics']})")
    if pgbouncers:
        static.append(f"`pgbouncer` ({len(pgbouncers)} targets, :{PORTS['pgbouncer_exporter']})")
    if ctx.has_consul:
        why = (
            "Prometheus discovers through Consul the exporters that register there (node, Redis, PostgreSQL, "
            "Gitaly, Rails, Sidekiq, Workhorse, NGINX). Consul discovery does not cover Praefect's metrics "
            "(registered, but Omnibus generates no job) nor the PgBouncer exporters (never registered), so "
            "gitlab.rb lists them in prometheus['scrape_configs']"
            + (f": jobs {' and '.join(static)}." if static else ".")
        )
    else:
        why = "No Consul here: gitlab.rb lists every node exporter in prometheus['scrape_configs']."
    if ctx.nodes(Role.RAILS):
        why += " Rails nodes let this node read NGINX's status page (nginx['status']['options']['allow'])."
    ip = mon[0].ip
    targets = (
        f"curl -s 'http://{ip}:{PORTS['prometheus']}/api/v1/targets?state=active' | sudo /opt/gitlab/embedded/bin/ruby "
        '-rjson -e \'JSON.parse(STDIN.read)["data"]["activeTargets"].each { |t| puts [t["labels"]["job"], '
        't["scrapeUrl"], t["health"]].join(" ") }\''
    )
    healthy = ["`Prometheus Server is Ready.`", "every target `up`"]
    if static:
        healthy[-1] += ", among them " + " and ".join(static)
    return Step(
        "Monitoring",
        mon,
        why,
        ["sudo gitlab-ctl reconfigure"],
        [f"curl -s http://{ip}:{PORTS['prometheus']}/-/ready", targets],
        healthy,
    )


def _cloud_load_balancer(ctx: Context, web: list[Node]) -> Step:
    """The seed's AWS NLB (or any layer-4 balancer the topology does not hold): what to point where."""
    http, ssh = PORTS["rails_http"], PORTS["ssh"]
    targets = " ".join(f"{n.ip}:{{port}}" for n in web)
    return Step(
        "External load balancer (outside the topology, e.g. an AWS NLB)",
        web,
        "No node of the topology is the external load balancer, so build it in your cloud as the seed did: "
        f"TLS ends there and plain HTTP reaches Rails' NGINX on {http} (gitlab.rb has listen_https false).",
        [
            f"# target group 'gitlab-http': TCP {http} -> {targets.format(port=http)}   (TCP health check)",
            f"# target group 'gitlab-ssh':  TCP {ssh} -> {targets.format(port=ssh)}",
            f"# listener TLS 443 -> gitlab-http, with the certificate of {ctx.topo.gitlab.external_url}",
            f"# listener TCP {ssh}  -> gitlab-ssh",
            "# DNS: the external URL's host name -> the load balancer",
        ],
        [
            f"curl -sI {quote(f'{ctx.topo.gitlab.external_url}/users/sign_in')} | head -1",
            f"ssh -T {quote(f'git@{_host(ctx.topo.gitlab.external_url)}')}   # with a key added to a GitLab user",
        ],
        ["`HTTP/2 200` (or `HTTP/1.1 200 OK`); `Welcome to GitLab, @<user>!`; every target healthy in the console"],
    )


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def _end_to_end(ctx: Context, web: list[Node]) -> Step | None:
    """The seed's last steps: sign in as root, then see an upload land in object storage."""
    if not web:
        return None
    url = ctx.topo.gitlab.external_url
    commands = [
        f"sudo cat /etc/gitlab/initial_root_password   # on {web[0].name}; Omnibus deletes it 24 h after the first reconfigure",
        f"# sign in to {url} as root with it and change the password",
        "# create a project, open a new issue and paste an image into its description",
    ]
    check = ["sudo gitlab-rake gitlab:check SANITIZE=true   # on a Rails node"]
    healthy = ["every check `yes` or `OK`"]
    if ctx.topo.object_storage is not None:
        query = "SELECT count(*) AS total, count(*) FILTER (WHERE store = 1) AS filesystem, count(*) FILTER (WHERE store = 2) AS object_storage FROM uploads;"
        patroni, single = ctx.nodes(Role.PATRONI), ctx.nodes(Role.POSTGRES, Role.STANDALONE)
        on = (
            f"on the Patroni leader ({_names(patroni)}: `sudo gitlab-ctl patroni members` says which)"
            if patroni
            else f"on {_names(single)}"
        )
        check.append(f'sudo gitlab-psql -d gitlabhq_production -c "{query}"   # {on}')
        healthy.append(
            "`filesystem` 0 and `object_storage` equal to `total`; the image is in the uploads bucket under the same id"
        )
    return Step(
        "End to end: sign in and upload",
        web[:1],
        "The cluster is up when a user can sign in and an upload lands in object storage, not on a node's disk.",
        commands,
        check,
        healthy,
    )


def runbook(ctx: Context, source: str) -> str:
    topo = ctx.topo
    lines = [
        f"# Runbook: {topo.name} (GitLab {topo.gitlab.version}-{topo.gitlab.edition}, {len(topo.nodes)} nodes)",
        "",
        f"Rendered by gitlab-ha from `{source}`. Run the steps in this order; after each one, run its",
        "check and compare with the healthy output before going on. Paths like `<node>/gitlab.rb` are",
        "relative to this folder: copy each node's folder to that node first (`scp -r`), keeping modes.",
        "Unless a step says otherwise, each node first gets its own file:",
        "",
        "```sh",
        "sudo install -m 0600 -o root -g root <node>/gitlab.rb /etc/gitlab/gitlab.rb",
        "```",
        "",
        "No secret is written in this file; they are in the nodes' 0600 files and the secrets store",
        "(`gitlab-ha secrets list` shows where each comes from).",
        "",
        "| node | address | roles |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {n.name} | {n.ip} | {', '.join(r.value for r in n.roles)} |" for n in topo.nodes]
    all_steps = steps(ctx)
    for number, step in enumerate(all_steps, start=1):
        lines += [
            "",
            f"## {number}. {step.title}",
            "",
            f"On: {_names(step.nodes)}",
            "",
            step.why,
            "",
            "```sh",
        ]
        lines += step.commands
        lines.append("```")
        if step.check:
            lines += ["", "Check:", "", "```sh", *step.check, "```"]
        if step.healthy:
            lines += ["", "Healthy: " + "; ".join(step.healthy)]
    lines += _upgrades(ctx)
    return "\n".join(lines) + "\n"


def _upgrades(ctx: Context) -> list[str]:
    """How every later release migrates: the first-run file again, because Omnibus' marker changes."""
    rails = ctx.migrating_rails
    if rails is None:
        return []
    return [
        "",
        "## Upgrades",
        "",
        "Every node has /etc/gitlab/skip-auto-reconfigure, so a package upgrade reconfigures nothing by",
        "itself. Omnibus decides whether a reconfigure migrates with a marker keyed on the database host",
        "and port and the package's REVISION",
        "(`/var/opt/gitlab/gitlab-rails/upgrade-status/db-migrate-<md5 of db host, port, ...>-<REVISION>`):",
        "a new release has a new REVISION, so its migrations have not run yet. Run them the same way as",
        f"the first time, on `{rails.name}` only, after rendering the new release into this folder",
        "(`gitlab-ha render` with the new `gitlab.version`) and upgrading the package there:",
        "",
        "```sh",
        f"sudo install -m 0600 -o root -g root {rails.name}/gitlab.rb.first-run /etc/gitlab/gitlab.rb",
        "sudo gitlab-ctl reconfigure   # auto_migrate = true, straight to the Patroni leader: migrates",
        _install(rails),
        "sudo gitlab-ctl reconfigure   # auto_migrate = false, back through PgBouncer: no migration",
        "```",
        "",
        "Then upgrade and reconfigure the other nodes with their own gitlab.rb; none of them migrates.",
    ]
