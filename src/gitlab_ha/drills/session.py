"""A drill session: every chosen scenario, `repeat` times each, on one lab, brought up first if needed.

    outcome = run_session(lab, [SCENARIOS["leader-node-lost"]], RunConfig("fast", "off"), view, repeat=3)

The session decides what runs and what an interruption means; what the user sees goes through `view`
(the CLI's progress bar and lines). A run this lab cannot do is noted and the next one runs. Ctrl-C or
SIGTERM (the caller turns it into KeyboardInterrupt) ends the session: during a run the fault has been
healed by then, and the interrupted run is kept among the results.

One session per lab at a time (`drill_lock`): a second one's sweep before its first run heals the first
one's held fault (a partition flushed two seconds in, its leader never replaced), which the first one
then reports as a passed run; and its `ensure_lab` may bring the lab down under the first one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gitlab_ha.drills.labsetup import ensure_lab
from gitlab_ha.drills.runner import DrillError, Interrupted, RunConfig, RunResult, run_drill
from gitlab_ha.drills.scenarios import Scenario
from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import Lab

# Outside the lab's folder, which a session that switches profile purges (and a new lock file there
# would let a second session in); /run/lock is a tmpfs, emptied at boot.
LOCK_DIR = Path("/run/lock")


@contextlib.contextmanager
def drill_lock(lab_dir: Path) -> Iterator[None]:
    """Hold the lab's drill lock for the block; InputError at once, naming the holder, when another
    session holds it. The kernel drops the lock with its holder, SIGKILL included."""
    name = hashlib.sha256(str(lab_dir.resolve()).encode()).hexdigest()[:16]
    path = LOCK_DIR / f"gitlab-ha-drill-{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise InputError(f"another drill is running on this lab (pid {holder})", str(lab_dir)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


class SessionView(Protocol):
    """What a session shows, in this order: preparing, running (phase and a result per run), interrupted."""

    def preparing(self) -> AbstractContextManager[Callable[[str], None]]:
        """Around bringing the lab up; gives the function that shows each line of that."""

    def running(self, runs: int) -> AbstractContextManager[None]:
        """Around the `runs` runs."""

    def phase(self, run: str, what: str) -> None:
        """Run `run` (`scenario i/n (config)`) is at `what`."""

    def finished(self, result: RunResult) -> None:
        """A run ended (passed or failed)."""

    def could_not_run(self, scenario: str, index: int, error: Exception) -> None:
        """Run `index` of `scenario` could not start on this lab (DrillError, InputError)."""

    def interrupted(self, result: RunResult | None) -> None:
        """The session was interrupted, during `result`'s run (its fault healed), or None: no fault in place."""


@dataclass
class SessionOutcome:
    results: list[RunResult] = field(default_factory=list)  # the interrupted run too, if any
    errors: list[str] = field(default_factory=list)  # "scenario #i: why" for each run that could not start
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        """At least one run, every one ran and passed (false when interrupted)."""
        return bool(self.results) and not self.errors and not self.interrupted and all(r.passed for r in self.results)


def run_session(
    lab: Lab,
    scenarios: Sequence[Scenario],
    config: RunConfig,
    view: SessionView,
    *,
    repeat: int = 1,
    duration: float | None = None,
) -> SessionOutcome:
    outcome = SessionOutcome()
    with drill_lock(lab.dir):
        try:
            with view.preparing() as say:
                ensure_lab(lab, config.profile, config.sync, say)
            with view.running(len(scenarios) * repeat):
                for scenario in scenarios:
                    for index in range(1, repeat + 1):
                        name = f"{scenario.name} {index}/{repeat} ({config.label})"

                        def phase(what: str, name: str = name) -> None:
                            view.phase(name, what)

                        try:
                            result = run_drill(lab, scenario, config, index=index, duration=duration, phase=phase)
                        except (DrillError, InputError) as err:  # a scenario this lab cannot run
                            outcome.errors.append(f"{scenario.name} #{index}: {err}")
                            view.could_not_run(scenario.name, index, err)
                            continue
                        outcome.results.append(result)
                        view.finished(result)
        except Interrupted as stop:
            outcome.interrupted = True
            outcome.results.append(stop.result)
            view.interrupted(stop.result)
        except KeyboardInterrupt:
            outcome.interrupted = True
            view.interrupted(None)
    return outcome
