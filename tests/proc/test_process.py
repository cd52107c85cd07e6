"""The process toolkit on real processes: spawn, wait, stop with a grace period, kill the whole tree."""

from __future__ import annotations

import os
import pwd
import signal
import sys
from pathlib import Path

import pytest

from gitlab_ha.proc import PIPE, STDOUT, Process, call
from gitlab_ha.proc.tree import gone
from tests.discovery.conftest import process_alive, wait_until


def pid_in(path: Path) -> int:
    return int(wait_until(lambda: path.exists() and path.read_text().strip(), f"a pid in {path.name}"))


def wait_gone(pid: int) -> None:
    wait_until(lambda: not process_alive(pid), f"pid {pid} to be killed")


def test_spawn_wait_and_streams(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    proc = Process.spawn(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], stdout=log, stderr=STDOUT)
    assert proc.wait(timeout=30) == 3 and proc.returncode == 3 and not proc.running
    assert sorted(log.read_text().split()) == ["err", "out"]
    piped = Process.spawn(["/bin/echo", "hello"], stdout=PIPE)
    assert piped.stdout is not None and piped.stdout.read() == b"hello\n"
    assert piped.wait(timeout=30) == 0 and piped.stop() == 0


def test_child_leads_its_own_session(tmp_path: Path) -> None:
    with Process.spawn(["/bin/sleep", "30"]) as proc:
        assert os.getsid(proc.pid) == proc.pid and os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    assert proc.returncode == -signal.SIGTERM


def test_wait_times_out_without_touching_the_process() -> None:
    proc = Process.spawn(["/bin/sleep", "30"])
    try:
        with pytest.raises(TimeoutError, match=r"still running after 0\.1s"):
            proc.wait(timeout=0.1)
        assert proc.running
    finally:
        proc.stop()


def test_stop_lets_a_process_exit_within_the_grace_period(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = f"trap 'exit 7' TERM; touch {ready}; while true; do sleep 0.05; done"
    proc = Process.spawn(["/bin/sh", "-c", script])
    wait_until(ready.exists, "the trap to be set")
    assert proc.stop(grace=30) == 7


def test_stop_kills_the_tree_and_the_group_after_the_grace_period(tmp_path: Path) -> None:
    """A leader ignoring SIGTERM, a child of it, and an orphan that left the tree but not the group."""
    child, orphan = tmp_path / "child", tmp_path / "orphan"
    script = (
        f"trap '' TERM; (sleep 300 & echo $! > {orphan}); sleep 300 & echo $! > {child}; "
        "while true; do sleep 0.05; done"
    )
    proc = Process.spawn(["/bin/sh", "-c", script])
    pids = [pid_in(child), pid_in(orphan)]
    assert proc.stop(grace=0.2) == -signal.SIGKILL
    for pid in pids:
        wait_gone(pid)


def test_kill_reaches_a_grandchild_started_in_the_meantime(tmp_path: Path) -> None:
    """The leader is suspended before its children are listed, so it cannot slip one past the kill."""
    pids = tmp_path / "pids"
    script = f"while true; do sleep 300 & echo $! >> {pids}; sleep 0.01; done"
    proc = Process.spawn(["/bin/sh", "-c", script])
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) >= 5, "a few children")
    proc.kill()
    for pid in map(int, pids.read_text().split()):
        wait_gone(pid)


def test_stop_after_a_natural_exit_keeps_the_exit_code(tmp_path: Path) -> None:
    proc = Process.spawn([sys.executable, "-c", "raise SystemExit(4)"])
    wait_until(lambda: not proc.running, "the exit")
    assert proc.returncode == 4 and proc.stop() == 4 and proc.kill() == 4


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
def test_spawn_as_another_user(tmp_path: Path) -> None:
    out = tmp_path / "id"
    proc = Process.spawn(["/usr/bin/id", "-u"], stdout=out, user="nobody")
    assert proc.wait(timeout=30) == 0
    assert int(out.read_text()) == pwd.getpwnam("nobody").pw_uid


def test_spawn_refuses_an_empty_command_and_reports_a_missing_one() -> None:
    with pytest.raises(ValueError):
        Process.spawn([])
    with pytest.raises(FileNotFoundError):
        Process.spawn(["/nonexistent/program"])


def test_gone_counts_a_zombie_as_exited() -> None:
    import psutil

    proc = Process.spawn(["/bin/true"])
    wait_until(lambda: not proc.running, "the exit")
    assert gone(psutil.Process(proc.pid))  # not reaped yet: a zombie
    proc.stop()


def test_call_feeds_input_captures_output_and_stops_a_hung_tree(tmp_path: Path) -> None:
    done = call(["sh", "-c", "cat; echo oops >&2; exit 3"], input="hello")
    assert (done.returncode, done.stdout, done.stderr) == (3, "hello", "oops\n")
    marker = tmp_path / "child.pid"
    with pytest.raises(TimeoutError):
        call(["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], timeout=1)
    assert not process_alive(int(marker.read_text()))
