"""HAProxy configurations: the internal load balancer and the external one."""

from __future__ import annotations

from gitlab_ha.render.context import Context
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role

CERT_DIR = "/etc/haproxy/certs"


def _global(ctx: Context, node: Node, what: str, *, tls: bool = False) -> list[str]:
    return [
        f"# HAProxy for {node.name} ({node.ip}): {what}.",
        f"# Cluster {ctx.topo.name}; rendered by gitlab-ha. Check with: haproxy -c -f haproxy.cfg",
        "global",
        "    log stdout format raw local0",
        "    maxconn 20000",
        *([f"    crt-base {CERT_DIR}"] if tls else []),
        "",
        "defaults",
        "    log global",
        "    mode tcp",
        "    option tcplog",
        "    option dontlognull",
        "    balance leastconn",
        "    timeout connect 5s",
        "    # Database and Gitaly connections live long; 10s (the seed's value) cuts idle ones.",
        "    timeout client 30m",
        "    timeout server 30m",
        "    default-server inter 2s fall 3 rise 2 on-marked-down shutdown-sessions",
        "    # A server that refuses a connection (its node just died) is not yet marked down by the checks",
        "    # (up to inter x fall): retry the connection on another server at once instead of failing it.",
        "    retries 2",
        "    option redispatch 1",
        "",
        "frontend stats",
        "    mode http",
        f"    bind 127.0.0.1:{PORTS['haproxy_stats']}",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 5s",
        "",
    ]


def _tcp_frontend(name: str, bind: str, backend: str, *extra: str) -> list[str]:
    return [f"frontend {name}", f"    bind {bind}", *extra, f"    default_backend {backend}", ""]


def _servers(nodes: list[Node], port: int, check: str = "check") -> list[str]:
    return [f"    server {n.name} {n.ip}:{port} {check}" for n in nodes]


def internal(ctx: Context, node: Node) -> str:
    ip = node.ip
    lines = _global(ctx, node, "internal load balancer")
    pgbouncers = ctx.nodes(Role.PGBOUNCER)
    patroni = ctx.nodes(Role.PATRONI)
    praefects = ctx.nodes(Role.PRAEFECT)
    rails = ctx.nodes(Role.RAILS)
    if pgbouncers:
        lines += _tcp_frontend("internal-pgbouncer-tcp-in", f"{ip}:{PORTS['pgbouncer']}", "pgbouncer")
        lines += ["backend pgbouncer", "    option tcp-check", *_servers(pgbouncers, PORTS["pgbouncer"]), ""]
    if patroni:
        lines += _tcp_frontend("internal-postgresql-leader-tcp-in", f"{ip}:{PORTS['postgres']}", "postgresql-leader")
        lines += [
            "# Straight to the Patroni leader, for database migrations (RUNBOOK.md): Patroni's REST",
            "# API answers 200 on /leader only on the leader.",
            "backend postgresql-leader",
            "    option httpchk",
            "    http-check send meth GET uri /leader",
            "    http-check expect status 200",
            *_servers(patroni, PORTS["postgres"], f"check port {PORTS['patroni_api']}"),
            "",
        ]
    if praefects:
        lines += _tcp_frontend(
            "internal-praefect-tcp-in", f"{ip}:{PORTS['praefect']}", "praefect", "    option clitcpka"
        )
        lines += [
            "backend praefect",
            "    option tcp-check",
            "    option srvtcpka",
            *_servers(praefects, PORTS["praefect"]),
            "",
        ]
    if rails:
        lines += _tcp_frontend("internal-rails-tcp-in", f"{ip}:{PORTS['rails_http']}", "internal-rails")
        lines += _rails_backend("internal-rails", rails, "tcp")
    return "\n".join(lines)


def _rails_backend(name: str, rails: list[Node], mode: str) -> list[str]:
    return [
        f"backend {name}",
        f"    mode {mode}",
        "    option httpchk",
        "    http-check send meth GET uri /-/readiness",
        "    http-check expect status 200",
        *_servers(rails, PORTS["rails_http"]),
        "",
    ]


def external(ctx: Context, node: Node) -> str:
    ip = node.ip
    rails = ctx.nodes(Role.RAILS)
    lines = _global(ctx, node, "external load balancer, TLS ends here", tls=True)
    lines += [
        "frontend gitlab-http-in",
        "    mode http",
        f"    bind {ip}:80",
        "    http-request redirect scheme https code 301",
        "",
        "frontend gitlab-https-in",
        "    mode http",
        "    option httplog",
        "    option forwardfor",
        f"    bind {ip}:443 ssl crt gitlab.pem",
        "    http-request set-header X-Forwarded-Proto https",
        "    default_backend gitlab-rails",
        "",
    ]
    lines += _rails_backend("gitlab-rails", rails, "http")
    lines.append("# git over SSH: this host's own sshd listens on 2222 instead (RUNBOOK.md)")
    lines += _tcp_frontend("gitlab-ssh-in", f"{ip}:{PORTS['ssh']}", "gitlab-ssh")
    lines += ["backend gitlab-ssh", "    option tcp-check", *_servers(rails, PORTS["ssh"]), ""]
    return "\n".join(lines)
