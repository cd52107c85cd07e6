"""A lab: one directory holding a topology's HA data tier, run for real on this machine.

    lab = Lab(Path("lab"))
    lab.up(topology)         # render, model, network, supervisor, start in order, wait for health
    lab.stop("postgres-1")   # every program of a node (or one: "patroni@postgres-1")
    lab.down(purge=False)    # stop everything; no process, port, socket, cgroup or rule is left

The directory keeps the user's topology (cluster.yml), the lab's secrets store, the render of the
loopback topology (render/), each node's files and data (nodes/NODE/), and one log per program
(logs/SERVICE@NODE.log).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import exclusive_lock, write_atomic
from gitlab_ha.lab.files import write_file, write_lab
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.lab.plan import PG_BIN, LabNode, LabPlan, make_plan, node_root
from gitlab_ha.lab.ports import busy, busy_message
from gitlab_ha.lab.programs import ORDER, programs
from gitlab_ha.lab.runtime import precompile
from gitlab_ha.lab.supervisor import Program, Supervisor
from gitlab_ha.probe.patroni import cluster_of, running_leader
from gitlab_ha.probe.status import collect, healthy
from gitlab_ha.probe.target import Target, TargetNode, redis_port_of
from gitlab_ha.proc import Completed, NotReady, call, wait_for
from gitlab_ha.render.context import Placeholders
from gitlab_ha.secrets.pki import self_signed
from gitlab_ha.secrets.store import SecretStore
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.load import load_text, load_topology
from gitlab_ha.topology.model import Topology

STATE = "lab.json"
Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class _Broken(Exception):
    """A program that keeps exiting while `lab up` waits for it."""


@dataclass
class UpResult:
    already_up: bool
    started: list[str] = field(default_factory=list)
    seconds: float = 0.0
    healthy: bool = True


class Lab:
    def __init__(self, lab_dir: Path) -> None:
        self.dir = lab_dir.resolve()
        self.supervisor = Supervisor(self.dir)

    # What the lab holds

    @property
    def topology_file(self) -> Path:
        return self.dir / "cluster.yml"

    @property
    def store(self) -> Path:
        return self.dir / "secrets.json"

    def exists(self) -> bool:
        return (self.dir / STATE).is_file()

    def topology(self) -> Topology:
        if not self.exists():
            raise InputError("no lab here: run `gitlab-ha lab up` first", str(self.dir))
        return load_topology(self.topology_file).topology

    def secrets(self) -> SecretStore:
        if not self.store.exists():
            SecretStore.init(self.store)
        return SecretStore.load(self.store)

    def generated(self) -> dict[str, str]:
        """What reconfigure generates once and keeps in gitlab-secrets.json: PostgreSQL's self-signed pair."""
        path = self.dir / "gitlab-secrets.json"
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise InputError(f"damaged ({err}); remove it to generate a new pair", str(path)) from None
            if not isinstance(data, dict):
                raise InputError("damaged (not a JSON object); remove it to generate a new pair", str(path))
        else:
            cert, key = self_signed("PostgreSQL")
            data = {"postgresql_internal_certificate": cert, "postgresql_internal_key": key}
            write_atomic(path, json.dumps(data, indent=2) + "\n", mode=0o600)
        return {str(k): str(v) for k, v in data.items()}

    def state(self) -> dict[str, object]:
        path = self.dir / STATE
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(
                f"the lab's state file is damaged ({err}); `lab down --purge` and up again", str(path)
            ) from None
        if not isinstance(data, dict):
            raise InputError("the lab's state file is damaged (not a JSON object)", str(path))
        return data

    @property
    def profile(self) -> str:
        return str(self.state().get("profile", "fast"))

    def plan(self, topology: Topology | None = None, profile: str | None = None) -> LabPlan:
        return make_plan(
            self.dir, topology or self.topology(), self.secrets(), self.generated(), profile or self.profile
        )

    def network(self, plan: LabPlan) -> LabNetwork:
        return LabNetwork(self.dir, plan.addresses)

    def running(self) -> bool:
        return self.supervisor.running()

    # Up

    def prepare(self, text: str, source: str, profile: str = "fast") -> LabPlan:
        """Write everything the lab runs (the topology given as YAML text); start nothing."""
        topology = load_text(text, source).topology
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)  # postgres and redis reach their node folders through it (umask 077 too)
        if self.exists() and self.topology().model_dump() != topology.model_dump():
            raise InputError(
                "this lab holds another topology; `gitlab-ha lab down --purge` it first or use another --dir",
                str(self.dir),
            )
        write_atomic(self.topology_file, text, mode=0o644)
        plan = self.plan(topology, profile)
        write_lab(plan, self.secrets())
        precompile()
        for node in plan.nodes:
            if "postgresql" in node.runs:
                self._init_postgres(plan, node)
        write_atomic(
            self.dir / STATE,
            json.dumps(
                {"source": source, "profile": profile, "addresses": plan.addresses, "prepared": time.time()}, indent=2
            )
            + "\n",
            mode=0o600,
        )
        return plan

    def _init_postgres(self, plan: LabPlan, node: LabNode) -> None:
        """A PostgreSQL without Patroni: initdb once, as Omnibus' postgresql::enable does, then its files."""
        data = node_root(self.dir, node.name) / "postgresql" / "data"
        if not (data / "PG_VERSION").exists():
            done = call(
                [str(PG_BIN / "initdb"), "-D", str(data), "-E", "UTF8", "-U", "gitlab-psql"],
                env={"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
                user="postgres",
                timeout=120,
            )
            if done.returncode != 0:
                raise InputError(f"initdb failed: {done.stderr.strip()[-500:]}", str(data))
        assert node.model is not None
        for item in node.model.files:
            if Path(str(item.path)).parent == data:
                write_file(item)

    def up(
        self, text: str, source: str, *, profile: str = "fast", say: Say = _quiet, deadline: float = 300.0
    ) -> UpResult:
        """Bring the lab up from a topology (YAML text); a no-op when it already runs. One `up` at a time
        per directory (a lock file); SIGINT or an error tears down what it started. A damaged lab.json is
        refused (InputError), not written over: it holds the addresses `lab down` cleans up after."""
        self.state()
        self.dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.dir / ".up.lock", "`lab up`", self.dir):
            return self._up(text, source, profile=profile, say=say, deadline=deadline)

    def complete(self) -> bool:
        """Whether the last `up` finished (a SIGKILLed one leaves a lab that runs but was never set up)."""
        return bool(self.state().get("complete"))

    def _up(self, text: str, source: str, *, profile: str, say: Say, deadline: float) -> UpResult:
        start = time.monotonic()
        if self.running():
            if not self.complete():
                raise InputError("a previous `lab up` did not finish: `gitlab-ha lab down` first", str(self.dir))
            return UpResult(already_up=True)
        held = busy(make_plan(self.dir, load_text(text, source).topology, Placeholders(), profile=profile))
        if held:
            raise InputError(busy_message(held), "lab up")
        plan = self.prepare(text, source, profile)
        network = self.network(plan)
        network.up()
        try:
            result = self._start(plan, network, start, deadline, say)
            write_atomic(self.dir / STATE, json.dumps({**self.state(), "complete": True}, indent=2) + "\n", mode=0o600)
            return result
        except BaseException:
            # nothing half-up stays behind (a later `lab up` would take it for a running lab); the logs stay
            self.down()
            raise

    def _start(self, plan: LabPlan, network: LabNetwork, start: float, deadline: float, say: Say) -> UpResult:
        progs = programs(plan)
        self.supervisor.write(progs, network)
        self.supervisor.start()
        # Everything starts at once, as a cluster's hosts boot: each program copes with its neighbours
        # arriving late (Patroni and the watches retry the agent, PgBouncer and HAProxy start empty).
        # Waiting service by service would add every Python start-up on two cores to the next.
        for prog in progs:
            self.supervisor.start_program(prog.name, wait=False)
        say(f"{len(progs)} programs started under supervisord")
        self._wait_listening(plan, progs, deadline - (time.monotonic() - start))
        say(f"all listening after {time.monotonic() - start:.1f} s")
        for service in ORDER:
            after = AFTER.get(service)
            if after is not None and any(p.service == service for p in progs):
                after(self, plan, say)
        settled = self._settle(plan, deadline - (time.monotonic() - start))
        return UpResult(
            already_up=False, started=[p.name for p in progs], seconds=time.monotonic() - start, healthy=settled
        )

    def _wait_listening(self, plan: LabPlan, progs: list[Program], deadline: float) -> None:
        """Until every program listens on its port; a program that keeps exiting fails at once."""
        waiting = {p.name: (plan.node(p.node), _port(plan.node(p.node), p.service)) for p in progs}
        failing: dict[str, float] = {}

        def listening() -> bool:
            info = self.supervisor.info()
            for name, (node, port) in list(waiting.items()):
                state = info.get(name, {}).get("statename")
                if state in ("BACKOFF", "FATAL", "EXITED"):
                    since = failing.setdefault(name, time.monotonic())
                    if state == "FATAL" or time.monotonic() - since > 10:
                        raise _Broken(name)
                    continue
                failing.pop(name, None)
                try:
                    with socket.create_connection((node.address, port), timeout=1):
                        del waiting[name]
                except OSError:
                    continue
            return not waiting

        try:
            wait_for(listening, "every program to listen", deadline=max(deadline, 5.0), step=0.2)
        except (NotReady, _Broken) as err:
            name = str(err) if isinstance(err, _Broken) else next(iter(waiting))
            node, port = waiting[name]
            log = self.supervisor.log(name)
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            why = "it keeps exiting" if isinstance(err, _Broken) else f"not listening on {node.address}:{port}"
            raise InputError(f"{name} does not start ({why}): {' '.join(tail)[-300:]}", str(log)) from None

    def _settle(self, plan: LabPlan, deadline: float) -> bool:
        """Until `status` says healthy (checks pass, replicas stream, PgBouncers follow), within the
        deadline; False when it did not.

        A replica's first base backup waits for a spread checkpoint on the leader (Omnibus sets
        checkpoint_timeout 30 s: ~27 s); we ask the leader for an immediate CHECKPOINT meanwhile, as an
        operator in a hurry would (the checkpointer stops throttling the one in progress)."""
        target = self.target()
        nudged = 0.0

        def ok() -> bool:
            nonlocal nudged
            components = collect(target)
            if healthy(components):
                return True
            creating = any(r.state == "creating replica" for c in components if c.name == "Patroni" for r in c.rows)
            if creating and time.monotonic() - nudged > 5:
                nudged = time.monotonic()
                _checkpoint(self, plan)
            return False

        try:
            wait_for(ok, "the lab to be healthy", deadline=max(deadline, 5.0), step=0.5)
        except NotReady:
            return False
        return True

    # Down

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop everything; returns what is left behind (nothing, normally)."""
        left: list[str] = []
        try:
            # a drill killed mid-fault leaves a frozen node or SIGSTOPped processes: they would sit out
            # supervisord's stop timeouts (SIGTERM waits on a stopped process) before the SIGKILL
            recorded = self._recorded_network()
            if recorded is not None:
                recorded.resume()
            self.supervisor.shutdown()
        finally:
            # the addresses `up` recorded, not a fresh plan: a damaged topology or secrets store must not
            # keep the cgroups and the nftables table alive
            network = self._recorded_network()
            if network is not None:
                left += self._stop_stragglers([pid for node in network.addresses for pid in network.pids(node)])
                left += network.down()
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)
        return left

    @staticmethod
    def _stop_stragglers(pids: list[int], deadline: float = 30.0) -> list[str]:
        """Processes still in the node cgroups after supervisord stopped (a postmaster whose Patroni was
        SIGKILLed): ours, so stopped by pid, SIGTERM then SIGKILL; what survives both."""
        processes = _processes(pids)
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(processes, timeout=deadline)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        _, alive = psutil.wait_procs(alive, timeout=5)
        return [f"pid {p.pid} survived SIGKILL" for p in alive]

    def _recorded_network(self) -> LabNetwork | None:
        """The network `up` made: from the recorded addresses, or, when lab.json is damaged, from the node
        cgroups that exist (the table and the cgroup folder are named after the directory alone)."""
        try:
            addresses = self.state().get("addresses")
        except InputError:
            addresses = None
        if isinstance(addresses, dict):
            return LabNetwork(self.dir, {str(k): str(v) for k, v in addresses.items()})
        probe = LabNetwork(self.dir, {})
        if not probe.cgroup.is_dir() and not probe.exists():
            return None
        nodes = [d.name for d in probe.cgroup.iterdir() if d.is_dir()] if probe.cgroup.is_dir() else []
        return LabNetwork(self.dir, dict.fromkeys(nodes, ""))

    # One node or program

    def targets(self, target: str) -> list[str]:
        """`NODE` → every program of that node; `SERVICE@NODE` → that one."""
        plan = self.plan()
        names = [p.name for p in programs(plan)]
        if "@" in target:
            if target not in names:
                raise InputError(f"no program {target!r} (programs: {', '.join(names)})", target)
            return [target]
        node = plan.node(target)
        return [p.name for p in programs(plan) if p.node == node.name]

    def stop(self, target: str) -> list[str]:
        self._need_running()
        names = self.targets(target)
        for name in reversed(names):
            self.supervisor.stop_program(name)
        return names

    def start(self, target: str) -> list[str]:
        self._need_running()
        names = self.targets(target)
        for name in names:
            self.supervisor.start_program(name, wait=False)
        return names

    def kill(self, target: str, sig: signal.Signals) -> list[int]:
        """Signal a program's process tree; for Patroni also its node's PostgreSQL (Patroni starts the
        postmaster detached from itself, so it is not in Patroni's tree, but it is in the node's
        cgroup). Signals go by pid only; returns the pids signalled."""
        self._need_running()
        network = self.network(self.plan())
        pids: list[int] = []
        for name in self.targets(target):
            info = self.supervisor.info().get(name)
            processes: list[psutil.Process] = []
            if info is not None and info.get("pid"):
                with contextlib.suppress(psutil.Error):
                    top = psutil.Process(int(info["pid"]))
                    processes = [top, *top.children(recursive=True)]
            service, _, node = name.partition("@")
            if service == "patroni":
                processes += [p for p in _processes(network.pids(node)) if _name(p) == "postgres"]
            for process in {p.pid: p for p in processes}.values():
                with contextlib.suppress(psutil.Error):
                    process.send_signal(sig)
                    pids.append(process.pid)
        if not pids:
            raise InputError("nothing runs there to signal", target)
        return pids

    def target(self) -> Target:
        """What `status` reads in this lab: every node's services, the lab's secrets, HAProxy's socket."""
        plan = self.plan()
        nodes = []
        for node in plan.nodes:
            services = set(node.runs) | set(node.not_runnable)
            if node.model is not None:
                services |= set(node.model.services.enabled)
            nodes.append(
                TargetNode(node.name, node.address, node.roles, frozenset(services), redis_port_of(node.model))
            )
        sockets = {
            n.name: str(node_root(self.dir, n.name) / "run" / "haproxy.sock") for n in plan.nodes if "haproxy" in n.runs
        }
        return Target(
            nodes,
            self.secrets(),
            redis_master_name=plan.lab_topo.redis.master_name,
            database=plan.lab_topo.database.name,
            haproxy_sockets=sockets,
            lab=True,
        )

    def lose(self, node: str, deadline: float = 30.0) -> list[str]:
        """The node is lost: every process of it stops at the same instant (frozen, then killed), and the
        supervisor holds its programs stopped until `start` (a host that is gone does not restart them)."""
        self._need_running()
        plan = self.plan()
        network = self.network(plan)
        names = self.targets(node)
        network.freeze(plan.node(node).name)
        try:
            rpc = self.supervisor.rpc()
            for name in names:
                with contextlib.suppress(xmlrpc.client.Fault):
                    rpc.supervisor.stopProcess(name, False)  # STOPPING: SIGTERM waits on frozen processes
            network.kill_all(node)
        finally:
            network.freeze(node, False)
        wait_for(lambda: not network.pids(node), f"every process of {node} gone", deadline=deadline)
        return names

    def exec_argv(self, node: str, argv: list[str], user: str | None = None) -> list[str]:
        """`argv` as run on `node`: in its cgroup, so it connects from the node's address (what
        `gitlab-ctl patroni switchover` on that host would do)."""
        plan = self.plan()
        network = self.network(plan)
        plan.node(node)
        enter = [sys.executable, "-m", "gitlab_ha.lab.enter", str(network.node_cgroup(node) / "cgroup.procs")]
        if user is not None:
            enter += ["--user", user]
        return [*enter, "--", *argv]

    def _need_running(self) -> None:
        if not self.running():
            raise InputError("the lab is not running: `gitlab-ha lab up` first", str(self.dir))


def _processes(pids: list[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            out.append(psutil.Process(pid))
    return out


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def _port(node: LabNode, service: str) -> int:
    """The port that says a program is up: the one the reconfigure model gives its service (the lowest,
    for Consul the HTTP API); HAProxy's stats page, which the model does not hold."""
    ports = node.model.ports(service) if node.model is not None else set()
    return min(ports) if ports else PORTS["haproxy_stats" if service == "haproxy" else service]


def _superuser_psql(lab: Lab, node: LabNode, *args: str, timeout: float = 120) -> Completed:
    """psql on a node's PostgreSQL as its superuser (gitlab-psql, as postgres over the unix socket: peer)."""
    root = node_root(lab.dir, node.name)
    argv = [str(PG_BIN / "psql"), "-X", "-q", "-h", str(root / "postgresql"), "-U", "gitlab-psql", *args]
    env = {"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin", "HOME": str(root / "postgresql")}
    return call(argv, user="postgres", env=env, timeout=timeout)


def _checkpoint(lab: Lab, plan: LabPlan) -> None:
    """An immediate CHECKPOINT on the Patroni leader (best effort: the leader may be changing)."""
    try:
        node = leader(lab, plan, deadline=2)
    except NotReady:
        return
    _superuser_psql(lab, node, "-d", "postgres", "-c", "CHECKPOINT", timeout=60)


def _ready(lab: Lab, node: LabNode, deadline: float = 60.0) -> None:
    """Wait until the node's PostgreSQL accepts connections (pg_isready: past recovery and start-up)."""
    socket_dir = node_root(lab.dir, node.name) / "postgresql"
    argv = [str(PG_BIN / "pg_isready"), "-q", "-h", str(socket_dir), "-U", "gitlab-psql", "-d", "postgres"]
    wait_for(
        lambda: call(argv, timeout=10).returncode == 0, f"{node.name}'s PostgreSQL to accept connections", deadline
    )


def _writable_leader(lab: Lab, plan: LabPlan, deadline: float = 120.0) -> LabNode:
    """The Patroni leader once its PostgreSQL takes writes: a member holding the key may still be starting
    read-only (a lab up again on its kept data: Patroni starts it as a replica, then promotes it)."""

    def probe() -> LabNode | None:
        node = leader(lab, plan, deadline=2)
        done = _superuser_psql(lab, node, "-d", "postgres", "-tAc", "SELECT pg_is_in_recovery()", timeout=10)
        return node if done.returncode == 0 and done.stdout.strip() == "f" else None

    try:
        found: LabNode = wait_for(probe, "a writable Patroni leader", deadline=deadline, step=0.5)
    except NotReady:
        raise InputError(f"no writable Patroni leader after {deadline:g} s: {_why_no_leader(lab)}", "lab up") from None
    return found


def _why_no_leader(lab: Lab) -> str:
    """What `status` says of Consul and Patroni, and each Patroni's last log line (what to read first)."""
    parts = [
        f"{c.name} {c.verdict.value}: {c.summary}" for c in collect(lab.target()) if c.name in ("Consul", "Patroni")
    ]
    for name in (n for n in lab.supervisor.info() if n.startswith("patroni@")):
        log = lab.supervisor.log(name)
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        parts.append(f"{name}: {lines[-1][-200:] if lines else '(no log)'} ({log})")
    return "; ".join(parts)


def _psql(lab: Lab, node: LabNode, sql_file: Path, database: str = "postgres") -> None:
    """Run a statements file on a node's PostgreSQL as its superuser."""
    _ready(lab, node)
    done = _superuser_psql(lab, node, "-d", database, "-v", "ON_ERROR_STOP=1", "-f", str(sql_file))
    if done.returncode != 0:
        raise InputError(f"{sql_file.name} failed on {node.name}: {done.stderr.strip()[-400:]}", str(sql_file))


def leader(lab: Lab, plan: LabPlan, deadline: float = 120.0) -> LabNode:
    """The node whose Patroni leads and runs, by Patroni's /cluster (waits up to `deadline` seconds)."""
    members = {n.address: n for n in plan.nodes if "patroni" in n.runs}

    def probe() -> LabNode | None:
        cluster = cluster_of(list(members))
        member = running_leader(cluster) if cluster is not None else None
        return None if member is None else members.get(str(member.get("host")))

    found: LabNode = wait_for(probe, "a Patroni leader", deadline=deadline)
    return found


def _after_postgresql(lab: Lab, plan: LabPlan, say: Say) -> None:
    """A PostgreSQL without Patroni: reconfigure's database objects, then the runbook's Praefect SQL."""
    for node in plan.nodes:
        if "postgresql" not in node.runs:
            continue
        root = node_root(lab.dir, node.name)
        _psql(lab, node, root / "postgresql" / "database-objects.sql")
        sql = lab.dir / "render" / node.name / "praefect-db.sql"
        if sql.exists():
            staged = root / "postgresql" / "praefect-db.sql"
            write_atomic(staged, sql.read_text(), mode=0o600)
            os.chown(staged, *_postgres_ids())
            _psql(lab, node, staged)
            say(f"{node.name}: Praefect's role and database created (praefect-db.sql)")


def _postgres_ids() -> tuple[int, int]:
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _after_patroni(lab: Lab, plan: LabPlan, say: Say) -> None:
    """Once a member leads: reconfigure's database objects on it (users, Rails' database, PgBouncer's
    auth function), as `gitlab-ctl reconfigure` runs them on the writable node."""
    node = _writable_leader(lab, plan)
    _psql(lab, node, node_root(lab.dir, node.name) / "postgresql" / "database-objects.sql")
    say(f"{node.name} leads the Patroni cluster; database objects created there")
    database = plan.lab_topo.database
    if database.synchronous_mode:
        # The runbook's step: Omnibus renders no synchronous_mode, it is set once in the DCS.
        settings = ["-s", "synchronous_mode=true"]
        if database.synchronous_mode_strict:
            settings += ["-s", "synchronous_mode_strict=true"]
        config = node_root(lab.dir, node.name) / "patroni" / "patroni.yaml"
        argv = [str(Path(sys.executable).parent / "patronictl"), "-c", str(config), "edit-config", "--force", *settings]
        done = call(lab.exec_argv(node.name, argv), timeout=60)
        if done.returncode != 0:
            raise InputError(f"patronictl edit-config failed: {done.stderr.strip()[-300:]}", str(config))
        say("synchronous replication on (patronictl edit-config, as the runbook does)")


# What `lab up` does once a service runs everywhere, as the runbook's steps do.
AFTER: dict[str, Callable[[Lab, LabPlan, Say], None]] = {
    "postgresql": _after_postgresql,
    "patroni": _after_patroni,
}
