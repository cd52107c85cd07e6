"""One toolkit to start, probe and stop a process tree; everything that runs a child uses it.

- `launch`: how a child is started (a new session, its streams, its user), shared by both APIs below.
- `process.Process`: the blocking API (`Process.spawn(...)`, `.wait`, `.stop(grace)`), for tests, the lab, drills;
  `call(argv, input=…, timeout=…)` runs a short command to its end and captures its output.
- `aio`: the asyncio API (`AsyncProcess`, `run`) for the agent's check scripts and watch handlers.
- `tree`: stop a tree (suspend the leader, collect its descendants, SIGKILL them and its group, reap).
- `ready`: readiness probes with a deadline: a TCP port open, an HTTP 2xx, a line in a log file.

Nothing here kills by name: only the pid a `spawn` returned, its descendants and its process group.
"""

from __future__ import annotations

from gitlab_ha.proc.aio import AsyncProcess, Outcome, run
from gitlab_ha.proc.launch import DEVNULL, PIPE, STDOUT, Stream
from gitlab_ha.proc.process import Completed, Process, call
from gitlab_ha.proc.ready import ExitedEarly, NotReady, wait_for, wait_http, wait_log, wait_tcp
from gitlab_ha.proc.tree import kill_tree, reap

__all__ = [
    "DEVNULL",
    "PIPE",
    "STDOUT",
    "AsyncProcess",
    "Completed",
    "ExitedEarly",
    "NotReady",
    "Outcome",
    "Process",
    "Stream",
    "call",
    "kill_tree",
    "reap",
    "run",
    "wait_for",
    "wait_http",
    "wait_log",
    "wait_tcp",
]
