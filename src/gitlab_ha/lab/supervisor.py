"""The lab's supervisor: supervisord (PyPI, pinned), as runit supervises Omnibus' services.

One program per service and node, named SERVICE@NODE (`patroni@postgres-1`), each started through
`lab.enter` into its node's cgroup and account. A program that exits is restarted with supervisord's
growing back-off unless it was stopped on purpose; each writes one log, logs/SERVICE@NODE.log. The
daemon is reached over its 0700 unix socket with XML-RPC, so any shell on the machine can drive it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from supervisor.xmlrpc import SupervisorTransport

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import write_atomic
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.lab.runtime import service_env
from gitlab_ha.proc import call

STOP_WAIT = {"patroni": 60, "postgresql": 60}  # a fast shutdown of PostgreSQL may take a while


@dataclass(frozen=True)
class Program:
    service: str
    node: str
    argv: tuple[str, ...]
    user: str | None = None
    home: str | None = None
    env: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.service}@{self.node}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


class Supervisor:
    def __init__(self, lab_dir: Path) -> None:
        self.lab_dir = lab_dir
        self.conf = lab_dir / "supervisord.conf"
        self.socket = lab_dir / "supervisor.sock"
        self.pidfile = lab_dir / "supervisord.pid"
        self.logs = lab_dir / "logs"

    def log(self, program: str) -> Path:
        return self.logs / f"{program}.log"

    def config(self, programs: list[Program], network: LabNetwork) -> str:
        lines = [
            "; written by gitlab-ha lab up; every program runs through lab.enter in its node's cgroup",
            "[unix_http_server]",
            f"file={self.socket}",
            "chmod=0700",
            "",
            "[supervisord]",
            f"logfile={self.logs / 'supervisord.log'}",
            f"pidfile={self.pidfile}",
            f"childlogdir={self.logs}",
            f"directory={self.lab_dir}",
            "minfds=4096",
            f"identifier=gitlab-ha-lab-{network.lab_id}",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{self.socket}",
            "",
        ]
        for program in programs:
            # lab.enter runs as root until its exec: the project's own interpreter serves
            enter = [
                sys.executable,
                "-m",
                "gitlab_ha.lab.enter",
                str(network.node_cgroup(program.node) / "cgroup.procs"),
            ]
            if program.user:
                enter += ["--user", program.user]
            if program.home:
                enter += ["--home", program.home]
            # supervisord splits `command` as a shell would (shlex) after expanding %(…)s
            command = shlex.join([*enter, "--", *program.argv]).replace("%", "%%")
            env = service_env(dict(program.env))
            lines += [
                f"[program:{program.name}]",
                f"command={command}",
                "autostart=false",
                "autorestart=true",
                "startsecs=1",
                "startretries=100",
                f"stopwaitsecs={STOP_WAIT.get(program.service, 20)}",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                f"stdout_logfile={self.log(program.name)}",
                "stdout_logfile_maxbytes=20MB",
                "stdout_logfile_backups=2",
                "environment=" + ",".join(f"{k}={_quote(v)}" for k, v in sorted(env.items())),
                "",
            ]
        return "\n".join(lines) + "\n"

    def write(self, programs: list[Program], network: LabNetwork) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        write_atomic(self.conf, self.config(programs, network), mode=0o600)

    # The daemon

    def pid(self) -> int | None:
        """supervisord's pid when it runs for this lab (its pid file, checked against its command line)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            process = psutil.Process(pid)
            if str(self.conf) in " ".join(process.cmdline()) and process.status() != psutil.STATUS_ZOMBIE:
                return pid
        except (OSError, ValueError, psutil.Error):
            return None
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        """Start supervisord (it daemonizes; we keep its pid file)."""
        done = call([sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)], timeout=60)
        if done.returncode != 0:
            raise InputError(f"supervisord did not start: {done.stderr.strip() or done.stdout.strip()}", str(self.conf))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.running() and self.socket.exists():
                with contextlib.suppress(OSError, xmlrpc.client.Error):
                    if self.rpc().supervisor.getState()["statename"] == "RUNNING":
                        return
            time.sleep(0.05)
        raise InputError("supervisord did not come up within 30 s", str(self.logs / "supervisord.log"))

    def rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def reload(self) -> None:
        """Re-read the configuration (programs added or removed by a changed lab)."""
        self.rpc().supervisor.reloadConfig()

    def shutdown(self, deadline: float = 120.0) -> None:
        """Stop every program, then supervisord itself; SIGKILL its tree if it outlives `deadline`."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            self.rpc().supervisor.stopAllProcesses()
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            self.rpc().supervisor.shutdown()
        try:
            psutil.Process(pid).wait(timeout=deadline)
        except psutil.TimeoutExpired:
            from gitlab_ha.proc import kill_tree, reap

            reap(kill_tree(pid))
        except psutil.NoSuchProcess:
            pass
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    # Programs

    def info(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.rpc().supervisor.getAllProcessInfo()}

    def start_program(self, name: str, wait: bool = True) -> None:
        try:
            self.rpc().supervisor.startProcess(name, wait)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise InputError(f"cannot start {name}: {fault.faultString}", name) from None

    def stop_program(self, name: str) -> None:
        try:
            self.rpc().supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise InputError(f"cannot stop {name}: {fault.faultString}", name) from None

    def signal_program(self, name: str, sig: signal.Signals) -> int:
        """Send `sig` to the program's own process (its pid from supervisord); returns that pid."""
        info = self.info().get(name)
        if info is None or not info.get("pid"):
            raise InputError(f"{name} is not running", name)
        pid = int(info["pid"])
        os.kill(pid, sig)
        return pid
