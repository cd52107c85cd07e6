"""The session and a run's interruptions, without a lab: one session per lab at a time; a run interrupted
after its fault is kept, whenever the interrupt comes."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn, cast

import pytest

from gitlab_ha.drills import lock, runner, session
from gitlab_ha.drills.cluster import DrillLab
from gitlab_ha.drills.runner import RunConfig, RunResult
from gitlab_ha.drills.scenarios import SCENARIOS, Scenario
from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import STATE, Lab
from tests.helpers import cli


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
    monkeypatch.setattr(lock, "LOCK_DIR", tmp_path)
    lab = Lab(tmp_path / "lab")
    seen: list[str] = []

    def second_session(*_: object) -> None:
        with pytest.raises(InputError, match=r"`drill run` \(pid \d+\) is running here"):
            session.run_session(lab, [SCENARIOS["leader-partitioned"]], RunConfig("fast", "off"), _View())
        with lock.drill_lock(tmp_path / "other-lab"):  # another lab is free
            seen.append("checked")
        raise KeyboardInterrupt  # end the first session before it drills

    monkeypatch.setattr(session, "ensure_lab", second_session)
    outcome = session.run_session(lab, [SCENARIOS["leader-partitioned"]], RunConfig("fast", "off"), _View())
    assert outcome.interrupted and seen == ["checked"]
    with lock.drill_lock(lab.dir):  # released with the session
        pass


class _Fault:
    target = "postgres-1"

    def describe(self) -> str:
        return "node postgres-1 partitioned"

    def inject(self) -> None:
        pass

    def heal(self) -> None:
        pass


class _Workload:
    endpoints = None

    def __init__(self, *_: object) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def sampling(self) -> bool:
        return True

    def acked_after(self, *_: object) -> bool:
        return True


def _interrupt(*_: object, **__: object) -> NoReturn:
    raise KeyboardInterrupt


def _stub_lab(monkeypatch: pytest.MonkeyPatch, **stubs: object) -> None:
    """run_drill on no lab: every step that would touch one answers at once (`stubs` replace some)."""
    plan = SimpleNamespace(addresses={}, lab_topo=SimpleNamespace(ha=SimpleNamespace(patroni=SimpleNamespace())))
    drill = SimpleNamespace(plan=plan)
    monkeypatch.setattr(DrillLab, "of", staticmethod(lambda lab: drill))
    monkeypatch.setattr(runner, "cleanup", SimpleNamespace(sweep=lambda d: [], leftovers=lambda d: []))
    monkeypatch.setattr(runner, "leaders", lambda d: (None, {}))
    monkeypatch.setattr(runner, "Workload", _Workload)
    monkeypatch.setattr(runner, "create_table", lambda endpoints: None)
    monkeypatch.setattr(runner, "_recover", lambda *_: ([], True))
    monkeypatch.setattr(runner, "wait_healthy", lambda drill, deadline: "")
    for name, stub in stubs.items():
        monkeypatch.setattr(runner, name, stub)


def _interrupted_run(held: bool = False) -> RunResult:
    """run_drill's Interrupted result; a bare KeyboardInterrupt (the run lost) fails the test, not pytest."""
    scenario = SimpleNamespace(name="leader-partitioned", kind="database", held=held, fault=lambda *_: _Fault())
    try:
        runner.run_drill(cast(Lab, None), cast(Scenario, scenario), RunConfig("fast", "off"), duration=20.0)
    except runner.Interrupted as stop:
        return stop.result
    except KeyboardInterrupt:
        pytest.fail("a bare KeyboardInterrupt escaped: the session says no fault was in place, the run is lost")
    pytest.fail("not interrupted")


def test_an_interrupt_during_the_read_back_keeps_the_run_as_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    # it escaped as a bare KeyboardInterrupt: "no fault was in place", and the run missing from the report
    _stub_lab(monkeypatch, read_back=_interrupt)
    result = _interrupted_run()
    assert result.interrupted and result.history.event("fault") is not None and result.healthy_after


def test_a_second_interrupt_while_waiting_for_health_still_keeps_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def healthy_once(drill: object, deadline: float) -> str:
        calls.append(deadline)
        if len(calls) > 1:  # the wait after the interrupt
            raise KeyboardInterrupt
        return ""

    _stub_lab(monkeypatch, _recover=_interrupt, wait_healthy=healthy_once)
    result = _interrupted_run()
    assert result.interrupted and not result.healthy_after
    assert result.notes == ["interrupted; the lab is not healthy yet: not waited for (interrupted again)"]


def test_a_hold_cut_short_by_an_interrupt_is_reported_as_held(monkeypatch: pytest.MonkeyPatch) -> None:
    # the report said "fault held 20 s" for a partition interrupted 5 s in
    _stub_lab(monkeypatch)
    monkeypatch.setattr(time, "sleep", _interrupt)  # Ctrl-C at once in the 20 s hold
    result = _interrupted_run(held=True)
    assert result.held is not None and result.held < 1.0


def test_lab_down_waits_for_no_drill(tmp_path: Path) -> None:
    # a `lab down` during a drill ended the drill in an xmlrpc traceback, with no report written
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / STATE).write_text("{}")
    with lock.drill_lock(lab_dir):
        done = cli("lab", "down", "--dir", lab_dir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(r"`drill run` \(pid \d+\) is running here", done.stderr) and "Traceback" not in done.stderr
    assert (lab_dir / STATE).exists()


def test_the_lock_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock, "LOCK_DIR", tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    for _ in range(2):
        with lock.drill_lock(tmp_path / "lab"):
            assert len(list((tmp_path / "locks").iterdir())) == 1
        assert list((tmp_path / "locks").iterdir()) == []
