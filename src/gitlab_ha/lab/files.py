"""Write a lab's files: the render of its loopback topology (gitlab.rb files, haproxy.cfg, RUNBOOK.md),
and each node's reconfigure-model files at their lab paths, owned by the account that runs them."""

from __future__ import annotations

import os
import pwd
import re
import resource
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import write_atomic
from gitlab_ha.lab.plan import LabPlan, node_root
from gitlab_ha.reconfigure.files.base import OmnibusFile
from gitlab_ha.render.cluster import Artifact, render_cluster
from gitlab_ha.render.context import Context, SecretSource
from gitlab_ha.render.writer import write_artifacts
from gitlab_ha.topology.facts import PORTS

# A node's folders and who owns them (Omnibus: gitlab-psql, gitlab-redis, gitlab-consul).
DIRS: tuple[tuple[str, str, int], ...] = (
    ("postgresql", "postgres", 0o700),
    ("patroni", "postgres", 0o700),
    ("pgbouncer", "postgres", 0o700),
    ("redis", "redis", 0o750),
    ("sentinel", "redis", 0o750),
    ("consul", "root", 0o755),  # as Omnibus: PgBouncer (postgres) reads the watch's databases.ini there
    ("haproxy", "root", 0o700),
    ("home/gitlab-consul", "root", 0o700),
    ("log", "root", 0o755),
    ("run", "root", 0o1777),
)


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _mkdir(path: Path, user: str, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, *_ids(user))
    os.chmod(path, mode)


def _traversable(mode: int) -> int:
    """A folder's mode for a file's: whoever may read the file may enter the folder (0600 → 0700)."""
    return mode & 0o777 | (mode & 0o444) >> 2


def write_file(item: OmnibusFile) -> None:
    """Write one of the model's files; folders it lacks belong to the file's owner, as Omnibus makes them,
    with modes set explicitly: under a umask of 077 they would otherwise be root's 0700 and the service
    could not read its own file (initdb's bootstrap could not copy patroni/data)."""
    path = Path(str(item.path))
    missing = [p for p in reversed(path.parents) if not p.exists()]
    for folder in missing:
        _mkdir(folder, item.owner, _traversable(item.mode))
    write_atomic(path, item.content, mode=item.mode)
    os.chown(path, *_ids(item.owner))


def relocate(text: str, address: str) -> str:
    """A rendered file's node-local address (127.0.0.1) as the lab node's own."""
    return text.replace("127.0.0.1", address)


def haproxy_maxconn(open_files: int, rendered: int = 20000) -> int:
    """HAProxy needs about two descriptors per connection and refuses to start when it cannot raise its
    limit that far ("Cannot raise FD limit"): the rendered maxconn where the machine allows it."""
    if open_files == resource.RLIM_INFINITY or open_files >= 2 * rendered + 100:
        return rendered
    return max(256, (open_files - 100) // 2)


def haproxy_cfg(artifact: Artifact, address: str, root: Path) -> str:
    """The rendered internal HAProxy, its stats on the node's address, plus an admin socket after the
    global maxconn (lowered to what this machine's open-file limit allows)."""
    text = relocate(artifact.content, address)
    found = re.search(r"^    maxconn (\d+)\n", text, flags=re.MULTILINE)
    if found is None:  # the socket is how `status` reads the lab's HAProxy: never go on without it
        raise InputError("no global maxconn line to put the lab's admin socket after", str(artifact.path))
    rendered, hard = int(found.group(1)), resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    maxconn = haproxy_maxconn(hard, rendered)
    note = f"  # lab: this machine allows {hard} open files" if maxconn != rendered else ""
    socket = root / "run" / "haproxy.sock"
    lines = f"    maxconn {maxconn}{note}\n    stats socket {socket} mode 600 level admin\n"
    return text[: found.start()] + lines + text[found.end() :]


def write_lab(plan: LabPlan, secrets: SecretSource) -> list[Artifact]:
    """Render the loopback topology into lab/render and every node's files under lab/nodes."""
    ctx = Context(plan.lab_topo, secrets)
    artifacts = render_cluster(ctx, "lab-cluster.yml")
    write_artifacts(artifacts, plan.lab_dir / "render")
    by_path = {a.path: a for a in artifacts}
    # every folder on the way to a node's own is 0755 whatever the umask (Patroni, imported in-process
    # elsewhere, sets 077): postgres and redis must traverse them
    _mkdir(plan.lab_dir / "nodes", "root", 0o755)
    for node in plan.nodes:
        root = node_root(plan.lab_dir, node.name)
        _mkdir(root, "root", 0o755)
        for name, user, mode in DIRS:
            _mkdir(root / name, user, mode)
        if node.model is not None:
            data = root / "postgresql" / "data"
            for item in node.model.files:
                if Path(str(item.path)).parent == data and not (data / "PG_VERSION").exists():
                    continue  # a PostgreSQL without Patroni: written after initdb (Lab._init_postgres)
                write_file(item)
        if "haproxy" in node.runs:
            cfg = by_path[f"{node.name}/haproxy.cfg"]
            write_atomic(root / "haproxy" / "haproxy.cfg", haproxy_cfg(cfg, node.address, root), mode=0o600)
        pgpass = by_path.get(f"{node.name}/pgpass")
        if pgpass is not None:
            # the runbook's `gitlab-ctl write-pgpass … --hostuser gitlab-consul` step
            write_atomic(
                root / "home" / "gitlab-consul" / ".pgpass", relocate(pgpass.content, node.address), mode=0o600
            )
    return artifacts


def stats_address(plan: LabPlan) -> list[tuple[str, int]]:
    return [(n.address, PORTS["haproxy_stats"]) for n in plan.nodes if "haproxy" in n.runs]
