"""The asyncio side: a run's output and exit code, a timeout or a cancellation kills the whole tree."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gitlab_ha.proc import AsyncProcess, run
from tests.discovery.conftest import process_alive, wait_until


def test_run_captures_output_and_code() -> None:
    outcome = asyncio.run(run(["/bin/sh", "-c", "cat; echo err >&2; exit 1"], timeout=30, stdin=b"in\n"))
    assert outcome.returncode == 1 and outcome.output == b"in\nerr\n"


def test_timeout_kills_the_tree_holding_the_pipe(tmp_path: Path) -> None:
    child = tmp_path / "child"
    outcome = asyncio.run(run(["/bin/sh", "-c", f"sleep 300 & echo $! > {child}; wait"], timeout=0.5))
    assert outcome.returncode is None
    pid = int(child.read_text())
    wait_until(lambda: not process_alive(pid), "the script's child to be killed")


def test_cancel_kills_the_tree(tmp_path: Path) -> None:
    child = tmp_path / "child"

    async def main() -> None:
        task = asyncio.create_task(run(["/bin/sh", "-c", f"sleep 300 & echo $! > {child}; wait"], timeout=300))
        while not (child.exists() and child.read_text().strip()):
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    pid = int(child.read_text())
    wait_until(lambda: not process_alive(pid), "the script's child to be killed")


def test_async_stop_with_grace(tmp_path: Path) -> None:
    ready = tmp_path / "ready"

    async def main() -> int:
        script = f"trap '' TERM; touch {ready}; while true; do sleep 0.05; done"
        proc = await AsyncProcess.spawn(["/bin/sh", "-c", script])
        while not ready.exists():  # SIGTERM must not arrive before the trap is set
            await asyncio.sleep(0.01)
        return await proc.stop(0.2)

    assert asyncio.run(main()) == -9
