"""What a drill may leave behind, and putting it right: partition rules, a frozen node cgroup, a
stopped (SIGSTOP) process in a node, a program held stopped in the supervisor.

`leftovers` only looks; `sweep` undoes each (flush the rules, thaw, SIGCONT by pid, start the
program) and says what it did. Every drill sweeps before it starts (a drill killed with SIGKILL
could not heal) and checks for leftovers after it has healed."""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

from gitlab_ha.drills import partition
from gitlab_ha.drills.cluster import DrillLab

# Not EXITED: every lab program is autorestart=true (lab/supervisor.py), so EXITED lasts the few ms between
# a kill and supervisord's respawn; a sweep right after an instant fault caught it and "started" a
# program supervisord was already restarting.
DOWN_STATES = ("STOPPED", "FATAL")


def _frozen(drill: DrillLab) -> list[str]:
    out = []
    for node in drill.plan.nodes:
        path = drill.network.node_cgroup(node.name) / "cgroup.freeze"
        with contextlib.suppress(OSError):
            if path.read_text().strip() == "1":
                out.append(node.name)
    return out


def _stopped(drill: DrillLab) -> list[tuple[str, psutil.Process]]:
    out = []
    for node in drill.plan.nodes:
        for pid in drill.network.pids(node.name):
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if process.status() == psutil.STATUS_STOPPED:
                    out.append((node.name, process))
    return out


def _programs_down(drill: DrillLab) -> list[str]:
    if not drill.lab.running():
        return []
    return sorted(name for name, info in drill.lab.supervisor.info().items() if info["statename"] in DOWN_STATES)


def fault_leftovers(drill: DrillLab) -> list[str]:
    """What only a fault leaves (a drill killed mid-fault): partition rules, frozen nodes, stopped processes."""
    found = [f"partition rule: {rule}" for rule in partition.rules(drill.network)]
    found += [f"frozen node: {node}" for node in _frozen(drill)]
    found += [f"stopped process: {p.pid} ({p.name()}) on {node}" for node, p in _stopped(drill)]
    return found


def leftovers(drill: DrillLab) -> list[str]:
    return fault_leftovers(drill) + [f"program not running: {name}" for name in _programs_down(drill)]


def sweep(drill: DrillLab) -> list[str]:
    """Undo whatever a drill left; returns one line per thing undone."""
    done = [f"removed partition rule: {rule}" for rule in partition.rules(drill.network)]
    partition.heal(drill.network)
    for node in _frozen(drill):
        drill.network.freeze(node, False)
        done.append(f"thawed node {node}")
    for node, process in _stopped(drill):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
            done.append(f"continued pid {process.pid} ({process.name()}) on {node}")
    for name in _programs_down(drill):
        drill.lab.supervisor.start_program(name, wait=False)
        done.append(f"started {name}")
    return done
