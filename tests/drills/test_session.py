"""The session around the runs, without a lab: one session per lab at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitlab_ha.drills import session
from gitlab_ha.drills.runner import RunConfig, RunResult
from gitlab_ha.drills.scenarios import SCENARIOS
from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import Lab


class _View:
    @contextlib.contextmanager
    def preparing(self) -> Iterator[Callable[[str], None]]:
        yield lambda line: None

    @contextlib.contextmanager
    def running(self, runs: int) -> Iterator[None]:
        yield

    def phase(self, run: str, what: str) -> None:
        pass

    def finished(self, result: RunResult) -> None:
        pass

    def could_not_run(self, scenario: str, index: int, error: Exception) -> None:
        pass

    def interrupted(self, result: RunResult | None) -> None:
        pass


def test_a_second_session_on_the_same_lab_is_refused_while_the_first_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a second session's sweep healed the first one's partition, which then passed without a failover
    monkeypatch.setattr(session, "LOCK_DIR", tmp_path)
    lab = Lab(tmp_path / "lab")
    seen: list[str] = []

    def second_session(*_: object) -> None:
        with pytest.raises(InputError, match=r"another drill is running on this lab \(pid \d+\)"):
            session.run_session(lab, [SCENARIOS["leader-partitioned"]], RunConfig("fast", "off"), _View())
        with session.drill_lock(tmp_path / "other-lab"):  # another lab is free
            seen.append("checked")
        raise KeyboardInterrupt  # end the first session before it drills

    monkeypatch.setattr(session, "ensure_lab", second_session)
    outcome = session.run_session(lab, [SCENARIOS["leader-partitioned"]], RunConfig("fast", "off"), _View())
    assert outcome.interrupted and seen == ["checked"]
    with session.drill_lock(lab.dir):  # released with the session
        pass
