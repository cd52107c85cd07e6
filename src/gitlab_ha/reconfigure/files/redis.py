"""Redis' and Sentinel's files: redis.conf (`redis/templates/default/redis.conf.erb`) and
sentinel.conf (`gitlab-ee/templates/default/sentinel.conf.erb`), with `Redis.parse_variables`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gitlab_ha.reconfigure.files.base import NodeInput, OmnibusFile
from gitlab_ha.reconfigure.settings import as_int

REDIS_DEFAULTS: dict[str, Any] = {
    "bind": "127.0.0.1",
    "port": 0,
    "tcp_backlog": 511,
    "unixsocketperm": "777",
    "tcp_timeout": 60,
    "tcp_keepalive": 300,
    "save": ["900 1", "300 10", "60 10000"],
    "stop_writes_on_bgsave_error": True,
    "maxclients": "10000",
    "maxmemory": "0",
    "maxmemory_policy": "noeviction",
    "maxmemory_samples": 5,
    "master_name": "gitlab-redis",
    "master_port": 6379,
    "io_threads": 1,
    "io_threads_do_reads": False,
    "hz": 10,
    "client_output_buffer_limit_normal": "0 0 0",
    "client_output_buffer_limit_replica": "256mb 64mb 60",
    "client_output_buffer_limit_pubsub": "32mb 8mb 60",
}
SENTINEL_DEFAULTS: dict[str, Any] = {
    "bind": "0.0.0.0",
    "port": 26379,
    "quorum": 1,
    "down_after_milliseconds": 10000,
    "failover_timeout": 60000,
}


def redis(node: NodeInput, key: str) -> Any:
    return node.settings.get("redis", key, default=REDIS_DEFAULTS.get(key))


def sentinel(node: NodeInput, key: str) -> Any:
    return node.settings.get("sentinel", key, default=SENTINEL_DEFAULTS.get(key))


def is_replica(node: NodeInput) -> bool:
    """redis_replica_role sets redis['master'] = false."""
    if "redis_replica_role" in node.settings.roles:
        return True
    return node.settings.flag("redis", "master") is False


def master_password(node: NodeInput) -> Any:
    """`master_password ||= password` where Redis runs here with Sentinel, as a replica or as master."""
    explicit = node.settings.get("redis", "master_password")
    if explicit is not None:
        return explicit
    if node.services.runs("redis") and (
        node.services.runs("sentinel") or is_replica(node) or "redis_master_role" in node.settings.roles
    ):
        return node.settings.get("redis", "password")
    return None


def bind(node: NodeInput) -> str:
    return " ".join(node.layout.listen(part) for part in str(redis(node, "bind")).split())


def port(node: NodeInput) -> int:
    return as_int(redis(node, "port"), 0)


def redis_conf(node: NodeInput) -> OmnibusFile:
    over_tcp = port(node) != 0 or node.settings.is_set("redis", "tls_port")
    directory = node.settings.get("redis", "dir", default=node.layout.dir("redis"))
    unixsocket = None if over_tcp else node.settings.get("redis", "unixsocket", default=f"{directory}/redis.socket")
    lines = [
        f"bind {bind(node)}",
        "protected-mode yes",
        f"port {port(node)}",
        f"tcp-backlog {redis(node, 'tcp_backlog')}",
    ]
    if unixsocket:
        lines.append(f"unixsocket {unixsocket}")
    lines += [
        f"unixsocketperm {redis(node, 'unixsocketperm')}",
        f"timeout {redis(node, 'tcp_timeout')}",
        f"tcp-keepalive {redis(node, 'tcp_keepalive')}",
        "daemonize no",
        "supervised no",
        f'pidfile "{node.layout.run_dir}/redis_{port(node)}.pid"',
        "loglevel notice",
        'logfile ""',
        "databases 16",
        "always-show-logo yes",
    ]
    save = node.settings.get("redis", "save", default=REDIS_DEFAULTS["save"])
    save = [save] if isinstance(save, str) else list(save)
    if save:
        lines += ['save ""'] if any(not str(s) for s in save) else [f"save {s}" for s in save]
    lines += [
        f"stop-writes-on-bgsave-error {'yes' if redis(node, 'stop_writes_on_bgsave_error') else 'no'}",
        "rdbcompression yes",
        "rdbchecksum yes",
        'dbfilename "dump.rdb"',
        "rdb-del-sync-files no",
        f'dir "{directory}"',
    ]
    if is_replica(node) and not node.settings.flag("redis", "ha"):
        lines.append(f"replicaof {redis(node, 'master_ip')} {redis(node, 'master_port')}")
    password = master_password(node)
    if password is not None:
        lines.append(f'masterauth "{password}"')
    lines += [
        "replica-serve-stale-data yes",
        "replica-read-only yes",
        "repl-diskless-sync no",
        "repl-diskless-sync-delay 5",
        "repl-diskless-load disabled",
        "repl-disable-tcp-nodelay no",
        "replica-priority 100",
    ]
    announce_ip = node.settings.get("redis", "announce_ip")
    if announce_ip is not None:
        lines.append(f"replica-announce-ip {announce_ip}")
        lines.append(f"replica-announce-port {node.settings.get('redis', 'announce_port', default=port(node))}")
    lines.append("acllog-max-len 128")
    if node.settings.is_set("redis", "password"):
        lines.append(f'requirepass "{node.settings.get("redis", "password")}"')
    renames = node.settings.get("redis", "rename_commands")
    for command, newname in (renames if isinstance(renames, dict) else {"KEYS": ""}).items():
        lines.append(f'rename-command {command} "{newname}"')
    lines += [
        f"maxclients {redis(node, 'maxclients')}",
        f"maxmemory {redis(node, 'maxmemory')}",
        f"maxmemory-policy {redis(node, 'maxmemory_policy')}",
        f"maxmemory-samples {redis(node, 'maxmemory_samples')}",
        "lazyfree-lazy-eviction no",
        "lazyfree-lazy-expire no",
        "lazyfree-lazy-server-del no",
        "replica-lazy-flush no",
        "lazyfree-lazy-user-del no",
        f"io-threads {redis(node, 'io_threads')}",
        f"io-threads-do-reads {'yes' if redis(node, 'io_threads_do_reads') else 'no'}",
        "oom-score-adj no",
        "oom-score-adj-values 0 200 800",
        "appendonly no",
        'appendfilename "appendonly.aof"',
        "appendfsync everysec",
        "no-appendfsync-on-rewrite no",
        "auto-aof-rewrite-percentage 100",
        "auto-aof-rewrite-min-size 64mb",
        "aof-load-truncated yes",
        "aof-use-rdb-preamble yes",
        "lua-time-limit 5000",
        "slowlog-log-slower-than 10000",
        "slowlog-max-len 128",
        "latency-monitor-threshold 0",
        'notify-keyspace-events ""',
        "hash-max-ziplist-entries 512",
        "hash-max-ziplist-value 64",
        "list-max-ziplist-size -2",
        "list-compress-depth 0",
        "set-max-intset-entries 512",
        "zset-max-ziplist-entries 128",
        "zset-max-ziplist-value 64",
        "hll-sparse-max-bytes 3000",
        "stream-node-max-bytes 4096",
        "stream-node-max-entries 100",
        "activerehashing yes",
        f"client-output-buffer-limit normal {redis(node, 'client_output_buffer_limit_normal')}",
        f"client-output-buffer-limit replica {redis(node, 'client_output_buffer_limit_replica')}",
        f"client-output-buffer-limit pubsub {redis(node, 'client_output_buffer_limit_pubsub')}",
        f"hz {redis(node, 'hz')}",
        "dynamic-hz yes",
        "aof-rewrite-incremental-fsync yes",
        "rdb-save-incremental-fsync yes",
        "jemalloc-bg-thread yes",
    ]
    return OmnibusFile(
        node.layout.dir("redis") / "redis.conf",
        "\n".join(lines) + "\n",
        0o644,
        node.layout.redis_os_user,
        "redis",
        secret=node.settings.is_set("redis", "password"),
    )


def sentinel_myid(node: NodeInput) -> str:
    """Omnibus generates 40 random hex digits once and keeps them in /etc/gitlab/gitlab-sentinel.json;
    the model derives a stable one from the node name unless sentinel['myid'] is set."""
    explicit = node.settings.get("sentinel", "myid")
    return str(explicit) if explicit else hashlib.sha1(node.name.encode()).hexdigest()


def sentinel_conf(node: NodeInput) -> OmnibusFile:
    name = redis(node, "master_name")
    use_hostnames = "no"
    announce_ip = node.settings.get("sentinel", "announce_ip", default=node.settings.get("redis", "announce_ip"))
    if node.settings.flag("redis", "announce_ip_from_hostname"):
        use_hostnames = "yes"
    lines = [
        f"bind {' '.join(node.layout.listen(p) for p in str(sentinel(node, 'bind')).split())}",
        f"port {sentinel(node, 'port')}",
    ]
    if announce_ip is None and node.layout.lab:
        # On a host a Sentinel announces its socket's own address, the host's; in the lab that is
        # 127.0.0.1 until SNAT rewrites it, and Sentinels all announcing 127.0.0.1 never find each other.
        announce_ip = node.layout.node_address
    if announce_ip is not None:
        lines.append(f"sentinel announce-ip {announce_ip}")
    lines += [
        f"sentinel announce-port {node.settings.get('sentinel', 'announce_port', default=sentinel(node, 'port'))}",
        f'dir "{node.settings.get("sentinel", "dir", default=node.layout.dir("sentinel"))}"',
        f"sentinel myid {sentinel_myid(node)}",
        f"sentinel monitor {name} {redis(node, 'master_ip')} {redis(node, 'master_port')} {sentinel(node, 'quorum')}",
        f"sentinel down-after-milliseconds {name} {sentinel(node, 'down_after_milliseconds')}",
    ]
    if node.settings.is_set("sentinel", "password"):
        lines.append(f'requirepass "{node.settings.get("sentinel", "password")}"')
    lines += [
        f"sentinel failover-timeout {name} {sentinel(node, 'failover_timeout')}",
        f"sentinel auth-pass {name} {master_password(node) or ''}",
        f"SENTINEL resolve-hostnames {use_hostnames}",
        f"SENTINEL announce-hostnames {use_hostnames}",
    ]
    return OmnibusFile(
        node.layout.dir("sentinel") / "sentinel.conf",
        "\n".join(lines) + "\n",
        0o644,
        node.layout.redis_os_user,
        "sentinel",
        secret=True,
    )


def files(node: NodeInput) -> list[OmnibusFile]:
    out = []
    if node.services.runs("redis"):
        out.append(redis_conf(node))
    if node.services.runs("sentinel"):
        out.append(sentinel_conf(node))
    return out
