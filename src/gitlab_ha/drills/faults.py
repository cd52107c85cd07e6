"""The faults a scenario injects. Each has `inject()` and `heal()`; `heal` is idempotent and safe after
a partial `inject`, and what it leaves is checked (`cleanup.leftovers`). Processes are only ever
signalled by pid: a program's tree as the supervisor knows it (`Lab.kill`) and, for Patroni, the
PostgreSQL processes of its node (Patroni starts the postmaster detached from itself, so they are
not in its tree, but they are in the node's cgroup)."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitlab_ha.drills import partition

if TYPE_CHECKING:
    from gitlab_ha.drills.cluster import DrillLab


@dataclass
class Fault:
    drill: DrillLab
    target: str  # a node or SERVICE@NODE

    def describe(self) -> str:
        raise NotImplementedError

    def inject(self) -> None:
        raise NotImplementedError

    def heal(self) -> None:
        """Undo the fault (nothing to undo for a kill: the supervisor restarts the program)."""


@dataclass
class Kill(Fault):
    def describe(self) -> str:
        return f"SIGKILL {self.target}"

    def inject(self) -> None:
        self.drill.lab.kill(self.target, signal.SIGKILL)


@dataclass
class Hang(Fault):
    pids: list[int] = field(default_factory=list)

    def describe(self) -> str:
        return f"SIGSTOP {self.target}"

    def inject(self) -> None:
        self.pids = self.drill.lab.kill(self.target, signal.SIGSTOP)

    def heal(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@dataclass
class Stop(Fault):
    """Programs stopped (gracefully, as `gitlab-ctl stop`), held stopped until healed."""

    programs: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"stop {', '.join(self.programs or (self.target,))}"

    def inject(self) -> None:
        for program in self.programs or (self.target,):
            self.drill.lab.stop(program)

    def heal(self) -> None:
        for program in self.programs or (self.target,):
            self.drill.lab.start(program)


@dataclass
class Restart(Fault):
    def describe(self) -> str:
        return f"restart {self.target}"

    def inject(self) -> None:
        self.drill.lab.stop(self.target)
        self.drill.lab.start(self.target)


@dataclass
class Lose(Fault):
    """Every process of the node stops at once (its agent included), held until healed."""

    def describe(self) -> str:
        return f"node {self.target} lost"

    def inject(self) -> None:
        self.drill.lab.lose(self.target)

    def heal(self) -> None:
        self.drill.lab.start(self.target)


@dataclass
class Partition(Fault):
    def describe(self) -> str:
        return f"node {self.target} partitioned"

    def inject(self) -> None:
        partition.cut(self.drill.network, self.target)

    def heal(self) -> None:
        partition.heal(self.drill.network)
