"""A drill session: every chosen scenario, `repeat` times each, on one lab, brought up first if needed.

    outcome = run_session(lab, [SCENARIOS["leader-node-lost"]], RunConfig("fast", "off"), view, repeat=3)

The session decides what runs and what an interruption means; what the user sees goes through `view`
(the CLI's progress bar and lines). A run this lab cannot do is noted and the next one runs. Ctrl-C or
SIGTERM (the caller turns it into KeyboardInterrupt) ends the session: during a run the fault has been
healed by then, and the interrupted run is kept among the results.

One session per lab at a time, and no `lab down` during it (`lock.drill_lock`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from gitlab_ha.drills.labsetup import ensure_lab
from gitlab_ha.drills.lock import drill_lock
from gitlab_ha.drills.runner import DrillError, Interrupted, RunConfig, RunResult, run_drill
from gitlab_ha.drills.scenarios import Scenario
from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import Lab


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
